//! The x86-64 micro-architecture level a binary needs: from its GNU property note when the
//! linker recorded one, else estimated from the instructions its code uses.

use std::fmt;

use iced_x86::{CpuidFeature, Decoder, DecoderOptions, Instruction, Mnemonic};
use serde::{Deserialize, Serialize};

/// An x86-64 micro-architecture level (the psABI's), named as `gcc -march=` names them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum IsaLevel {
    /// The baseline: every x86-64 CPU.
    #[serde(rename = "x86-64")]
    V1,
    #[serde(rename = "x86-64-v2")]
    V2,
    #[serde(rename = "x86-64-v3")]
    V3,
    #[serde(rename = "x86-64-v4")]
    V4,
}

impl IsaLevel {
    pub const ALL: [Self; 4] = [Self::V1, Self::V2, Self::V3, Self::V4];

    /// `x86-64`, `x86-64-v2`, ... (gcc's `-march=` names, and the label values).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::V1 => "x86-64",
            Self::V2 => "x86-64-v2",
            Self::V3 => "x86-64-v3",
            Self::V4 => "x86-64-v4",
        }
    }

    /// The archspec target of this level (`x86_64`, `x86_64_v2`, ...), as host profiles
    /// list them.
    pub fn archspec(self) -> &'static str {
        match self {
            Self::V1 => "x86_64",
            Self::V2 => "x86_64_v2",
            Self::V3 => "x86_64_v3",
            Self::V4 => "x86_64_v4",
        }
    }

    /// The level of a name: `x86-64-v3`, `x86_64_v3`, `v3` (an OCI platform variant).
    pub fn parse(name: &str) -> Option<Self> {
        let n = name.trim().to_ascii_lowercase().replace('_', "-");
        let n = n.strip_prefix("x86-64").unwrap_or(&n);
        let n = n.strip_prefix('-').unwrap_or(n);
        match n {
            "" | "v1" => Some(Self::V1),
            "v2" => Some(Self::V2),
            "v3" => Some(Self::V3),
            "v4" => Some(Self::V4),
            _ => None,
        }
    }

    fn index(self) -> usize {
        self as usize
    }
}

impl fmt::Display for IsaLevel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Where a binary's level came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum IsaSource {
    /// `GNU_PROPERTY_X86_ISA_1_NEEDED` in `.note.gnu.property`, with a v2, v3 or v4 bit.
    GnuProperty,
    /// The highest level of the instructions found in the executable sections.
    Estimated,
}

impl IsaSource {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::GnuProperty => "gnu-property",
            Self::Estimated => "estimated",
        }
    }
}

/// A binary's x86-64 level.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Isa {
    pub level: IsaLevel,
    pub source: IsaSource,
    /// The code checks the CPU at run time (`cpuid` or `xgetbv` instructions, or GNU
    /// indirect functions): instructions above the baseline may sit behind that check, so
    /// an estimated level is what the code *may* use, not what it needs.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub dispatch: bool,
    /// Instructions found at each level (`[v1, v2, v3, v4]`); empty for a property note.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub counts: Vec<u64>,
    /// Bytes of code decoded, and whether the decode budget cut it short.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub decoded_bytes: u64,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub truncated: bool,
}

#[allow(clippy::trivially_copy_pass_by_ref, reason = "serde's signature")]
fn is_zero(n: &u64) -> bool {
    *n == 0
}

impl Isa {
    /// Whether the level is a requirement: a property note, or an estimate from code that
    /// does not dispatch on the CPU at run time.
    pub fn is_required(&self) -> bool {
        self.source == IsaSource::GnuProperty || !self.dispatch
    }
}

/// Code decoded per binary at most, to stay fast on huge libraries.
pub const DECODE_BUDGET: u64 = 64 * 1024 * 1024;

/// Instructions of a level needed before the level counts: a stray byte sequence that
/// happens to decode as an AVX-512 instruction is not evidence.
pub const MIN_EVIDENCE: u64 = 2;

/// `GNU_PROPERTY_X86_ISA_1_NEEDED`
const GNU_PROPERTY_X86_ISA_1_NEEDED: u32 = 0xc000_8002;
/// `NT_GNU_PROPERTY_TYPE_0`
const NT_GNU_PROPERTY_TYPE_0: u32 = 5;

/// The level in a `NT_GNU_PROPERTY_TYPE_0` note's descriptor, if it has the ISA-needed
/// property with a bit above the baseline. The baseline bit alone is not used: Debian's
/// crt objects set it in every binary, whatever `-march` the code was built with.
pub(crate) fn level_from_property(desc: &[u8], is_64: bool, little: bool) -> Option<IsaLevel> {
    let align = if is_64 { 8 } else { 4 };
    let u32_at = |b: &[u8]| {
        let a = [b[0], b[1], b[2], b[3]];
        if little {
            u32::from_le_bytes(a)
        } else {
            u32::from_be_bytes(a)
        }
    };
    let mut at = 0usize;
    while at + 8 <= desc.len() {
        let pr_type = u32_at(&desc[at..]);
        let size = u32_at(&desc[at + 4..]) as usize;
        let data = desc.get(at + 8..at + 8 + size)?;
        if pr_type == GNU_PROPERTY_X86_ISA_1_NEEDED && size >= 4 {
            let bits = u32_at(data);
            return [(8, IsaLevel::V4), (4, IsaLevel::V3), (2, IsaLevel::V2)]
                .into_iter()
                .find(|(bit, _)| bits & bit != 0)
                .map(|(_, level)| level);
        }
        at += 8 + size.div_ceil(align) * align;
    }
    None
}

/// The level from the GNU property notes of an ELF file, if any says more than baseline.
pub(crate) fn level_from_notes(elf: &goblin::elf::Elf<'_>, bytes: &[u8]) -> Option<IsaLevel> {
    let notes = elf
        .iter_note_headers(bytes)
        .into_iter()
        .chain(elf.iter_note_sections(bytes, Some(".note.gnu.property")));
    for iter in notes {
        for note in iter.flatten() {
            if note.n_type == NT_GNU_PROPERTY_TYPE_0
                && note.name == "GNU"
                && let Some(level) = level_from_property(note.desc, elf.is_64, elf.little_endian)
            {
                return Some(level);
            }
        }
    }
    None
}

/// The level of one instruction's CPUID features (the psABI's level definitions).
fn level_of(instr: &Instruction) -> IsaLevel {
    // `lahf`/`sahf` need the LAHF-SAHF bit in 64-bit mode; iced files them under 8086.
    if matches!(instr.mnemonic(), Mnemonic::Lahf | Mnemonic::Sahf) {
        return IsaLevel::V2;
    }
    // `tzcnt` is `rep bsf`, which gcc emits at the baseline (it runs as `bsf` on older
    // CPUs): not evidence of BMI1.
    if instr.mnemonic() == Mnemonic::Tzcnt {
        return IsaLevel::V1;
    }
    let mut level = IsaLevel::V1;
    for feature in instr.cpuid_features() {
        use CpuidFeature as F;
        let l = match feature {
            F::AVX512F
            | F::AVX512BW
            | F::AVX512CD
            | F::AVX512DQ
            | F::AVX512VL
            | F::AVX512_BF16
            | F::AVX512_BITALG
            | F::AVX512_IFMA
            | F::AVX512_VBMI
            | F::AVX512_VBMI2
            | F::AVX512_VNNI
            | F::AVX512_VPOPCNTDQ
            | F::AVX512_VP2INTERSECT
            | F::AVX512_FP16 => IsaLevel::V4,
            F::AVX
            | F::AVX2
            | F::BMI1
            | F::BMI2
            | F::F16C
            | F::FMA
            | F::LZCNT
            | F::MOVBE
            | F::AVX_VNNI => IsaLevel::V3,
            F::CMPXCHG16B | F::POPCNT | F::SSE3 | F::SSE4_1 | F::SSE4_2 | F::SSSE3 => IsaLevel::V2,
            _ => IsaLevel::V1,
        };
        level = level.max(l);
    }
    level
}

/// Decode x86 code, counting instructions per level and noticing run-time CPU checks.
#[derive(Debug, Default)]
pub(crate) struct Estimator {
    counts: [u64; 4],
    decoded: u64,
    truncated: bool,
    dispatch: bool,
}

impl Estimator {
    /// Decode `code` (loaded at `ip`), within what is left of the budget.
    pub fn feed(&mut self, bitness: u32, code: &[u8], ip: u64) {
        let left = DECODE_BUDGET.saturating_sub(self.decoded);
        let take = usize::try_from(left).unwrap_or(usize::MAX).min(code.len());
        if take < code.len() {
            self.truncated = true;
        }
        let code = &code[..take];
        self.decoded += take as u64;
        let mut decoder = Decoder::with_ip(bitness, code, ip, DecoderOptions::NONE);
        let mut instr = Instruction::default();
        while decoder.can_decode() {
            decoder.decode_out(&mut instr);
            if instr.is_invalid() {
                continue;
            }
            if matches!(instr.mnemonic(), Mnemonic::Cpuid | Mnemonic::Xgetbv) {
                self.dispatch = true;
            }
            self.counts[level_of(&instr).index()] += 1;
        }
    }

    pub fn mark_dispatch(&mut self) {
        self.dispatch = true;
    }

    pub fn finish(self) -> Isa {
        let level = IsaLevel::ALL
            .into_iter()
            .rev()
            .find(|l| *l == IsaLevel::V1 || self.counts[l.index()] >= MIN_EVIDENCE)
            .unwrap_or(IsaLevel::V1);
        Isa {
            level,
            source: IsaSource::Estimated,
            dispatch: self.dispatch,
            counts: self.counts.to_vec(),
            decoded_bytes: self.decoded,
            truncated: self.truncated,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn estimate(code: &[u8]) -> Isa {
        let mut e = Estimator::default();
        e.feed(64, code, 0x1000);
        e.finish()
    }

    #[test]
    fn maps_instructions_to_levels() {
        // vpaddd ymm0, ymm1, ymm2 (AVX2), twice
        let avx2 = [0xc5, 0xf5, 0xfe, 0xc2, 0xc5, 0xf5, 0xfe, 0xc2];
        assert_eq!(estimate(&avx2).level, IsaLevel::V3);
        // popcnt rax, rbx (twice) -> v2
        let popcnt = [0xf3, 0x48, 0x0f, 0xb8, 0xc3, 0xf3, 0x48, 0x0f, 0xb8, 0xc3];
        assert_eq!(estimate(&popcnt).level, IsaLevel::V2);
        // one popcnt only is not evidence
        assert_eq!(estimate(&popcnt[..5]).level, IsaLevel::V1);
        // tzcnt (rep bsf) is baseline
        let tz = [0xf3, 0x48, 0x0f, 0xbc, 0xc3, 0xf3, 0x48, 0x0f, 0xbc, 0xc3];
        assert_eq!(estimate(&tz).level, IsaLevel::V1);
        // vpaddd zmm0, zmm1, zmm2 (AVX512F), twice
        let avx512 = [
            0x62, 0xf1, 0x75, 0x48, 0xfe, 0xc2, 0x62, 0xf1, 0x75, 0x48, 0xfe, 0xc2,
        ];
        let isa = estimate(&avx512);
        assert_eq!((isa.level, isa.dispatch), (IsaLevel::V4, false));
        // cpuid marks run-time dispatch
        let mut with_cpuid = avx512.to_vec();
        with_cpuid.extend([0x0f, 0xa2]);
        let isa = estimate(&with_cpuid);
        assert!(isa.dispatch && !isa.is_required());
        // lahf counts as v2
        assert_eq!(estimate(&[0x9f, 0x9f]).level, IsaLevel::V2);
    }

    #[test]
    fn parses_property_notes() {
        // One property: ISA_1_NEEDED, 4 bytes of data, padded to 8.
        let note = |bits: u32| {
            let mut d = Vec::new();
            d.extend(0xc000_0002u32.to_le_bytes()); // another property first
            d.extend(4u32.to_le_bytes());
            d.extend([0, 0, 0, 0, 0, 0, 0, 0]);
            d.extend(GNU_PROPERTY_X86_ISA_1_NEEDED.to_le_bytes());
            d.extend(4u32.to_le_bytes());
            d.extend(bits.to_le_bytes());
            d.extend([0, 0, 0, 0]);
            d
        };
        assert_eq!(level_from_property(&note(1), true, true), None);
        assert_eq!(
            level_from_property(&note(1 | 2 | 4), true, true),
            Some(IsaLevel::V3)
        );
        assert_eq!(
            level_from_property(&note(8), true, true),
            Some(IsaLevel::V4)
        );
        assert_eq!(level_from_property(&note(2)[..20], true, true), None);
    }

    #[test]
    fn parses_level_names() {
        for (s, l) in [
            ("x86-64", IsaLevel::V1),
            ("x86_64", IsaLevel::V1),
            ("x86_64_v3", IsaLevel::V3),
            ("x86-64-v4", IsaLevel::V4),
            ("v2", IsaLevel::V2),
        ] {
            assert_eq!(IsaLevel::parse(s), Some(l), "{s}");
            assert_eq!(IsaLevel::parse(l.as_str()), Some(l));
            assert_eq!(IsaLevel::parse(l.archspec()), Some(l));
        }
        assert_eq!(IsaLevel::parse("skylake"), None);
        assert_eq!(
            serde_json::to_string(&IsaLevel::V3).unwrap(),
            "\"x86-64-v3\""
        );
    }
}
