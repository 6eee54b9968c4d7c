//! Reading just the parts of an ELF file that detection needs (its header, program and
//! section headers, and a few sections), so a 40 MB `libmpich.so` costs a few reads.

use std::io::{self, Read, Seek, SeekFrom};
use std::path::Path;

use goblin::container::{Container, Ctx, Endian};
use goblin::elf::header::{self, Header};
use goblin::elf::program_header::{PT_INTERP, ProgramHeader};
use goblin::elf::section_header::{
    SHT_DYNAMIC, SHT_DYNSYM, SHT_GNU_VERDEF, SHT_NOBITS, SectionHeader,
};
use goblin::elf::symver::VerdefSection;

/// `Verdef::vd_flags`: the entry names the file itself, not a version.
const VER_FLG_BASE: u16 = 1;

/// The most a section read may allocate: corrupt headers must not ask for gigabytes.
const MAX_SECTION: u64 = 64 << 20;

/// An ELF file open for selective reads.
pub(crate) struct Elf {
    file: fs_err::File,
    header: Header,
    ctx: Ctx,
    sections: Vec<SectionHeader>,
}

fn invalid(what: impl std::fmt::Display) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, what.to_string())
}

impl Elf {
    /// Opens `path` and reads its header and section headers.
    pub fn open(path: &Path) -> io::Result<Self> {
        let mut file = fs_err::File::open(path)?;
        let mut ident = [0u8; header::header64::SIZEOF_EHDR];
        file.read_exact(&mut ident)
            .map_err(|_| invalid(format!("`{}` is not an ELF file", path.display())))?;
        let header = goblin::elf::Elf::parse_header(&ident)
            .map_err(|e| invalid(format!("`{}` is not an ELF file: {e}", path.display())))?;
        let container = header.container().map_err(invalid)?;
        let endian = header.endianness().map_err(invalid)?;
        let ctx = Ctx::new(container, endian);
        let mut elf = Self {
            file,
            header,
            ctx,
            sections: Vec::new(),
        };
        let count = usize::from(elf.header.e_shnum);
        if count > 0 && elf.header.e_shoff > 0 {
            let size = u64::from(elf.header.e_shentsize) * count as u64;
            let bytes = elf.read_at(elf.header.e_shoff, size)?;
            elf.sections = SectionHeader::parse_from(&bytes, 0, count, ctx).map_err(invalid)?;
        }
        Ok(elf)
    }

    /// Whether this file is for the machine paks runs on (so the loader could use it).
    pub fn is_native(&self) -> bool {
        native_machine() == Some(self.header.e_machine)
            && matches!(
                (self.ctx.container, cfg!(target_pointer_width = "64")),
                (Container::Big, true) | (Container::Little, false)
            )
    }

    fn read_at(&mut self, offset: u64, len: u64) -> io::Result<Vec<u8>> {
        if len > MAX_SECTION {
            return Err(invalid(format!(
                "an ELF section of {len} bytes is implausible"
            )));
        }
        self.file.seek(SeekFrom::Start(offset))?;
        let mut buf = vec![0; usize::try_from(len).map_err(invalid)?];
        self.file.read_exact(&mut buf)?;
        Ok(buf)
    }

    fn section_bytes(&mut self, index: usize) -> io::Result<Vec<u8>> {
        let Some(sh) = self.sections.get(index) else {
            return Err(invalid(format!("no ELF section {index}")));
        };
        if sh.sh_type == SHT_NOBITS {
            return Ok(Vec::new());
        }
        let (offset, size) = (sh.sh_offset, sh.sh_size);
        self.read_at(offset, size)
    }

    fn section_of_type(&self, ty: u32) -> Option<usize> {
        self.sections.iter().position(|s| s.sh_type == ty)
    }

    /// The string table a section links to (`sh_link`).
    fn linked_strings(&mut self, index: usize) -> io::Result<Vec<u8>> {
        let link = self.sections[index].sh_link as usize;
        self.section_bytes(link)
    }

    /// The program interpreter (`PT_INTERP`): the dynamic loader this file asks for.
    pub fn interpreter(&mut self) -> io::Result<Option<String>> {
        let count = usize::from(self.header.e_phnum);
        if count == 0 {
            return Ok(None);
        }
        let size = u64::from(self.header.e_phentsize) * count as u64;
        let bytes = self.read_at(self.header.e_phoff, size)?;
        let headers = ProgramHeader::parse(&bytes, 0, count, self.ctx).map_err(invalid)?;
        let Some(interp) = headers.iter().find(|p| p.p_type == PT_INTERP) else {
            return Ok(None);
        };
        let bytes = self.read_at(interp.p_offset, interp.p_filesz)?;
        let text = bytes.split(|&b| b == 0).next().unwrap_or_default();
        Ok(Some(String::from_utf8_lossy(text).into_owned()))
    }

    /// The `DT_SONAME`, if the file has one.
    pub fn soname(&mut self) -> io::Result<Option<String>> {
        let Some(index) = self.section_of_type(SHT_DYNAMIC) else {
            return Ok(None);
        };
        let bytes = self.section_bytes(index)?;
        let word = if self.ctx.container.is_big() { 8 } else { 4 };
        let read = |at: usize| -> Option<u64> {
            let b = bytes.get(at..at + word)?;
            Some(match (word, self.ctx.le) {
                (8, Endian::Little) => u64::from_le_bytes(b.try_into().ok()?),
                (8, Endian::Big) => u64::from_be_bytes(b.try_into().ok()?),
                (_, Endian::Little) => u64::from(u32::from_le_bytes(b.try_into().ok()?)),
                (_, Endian::Big) => u64::from(u32::from_be_bytes(b.try_into().ok()?)),
            })
        };
        let mut soname = None;
        for at in (0..bytes.len()).step_by(2 * word) {
            match read(at) {
                Some(goblin::elf::dynamic::DT_NULL) | None => break,
                Some(goblin::elf::dynamic::DT_SONAME) => soname = read(at + word),
                Some(_) => {}
            }
        }
        let Some(offset) = soname else {
            return Ok(None);
        };
        let strings = self.linked_strings(index)?;
        Ok(string_at(
            &strings,
            usize::try_from(offset).map_err(invalid)?,
        ))
    }

    /// The names of the versions this file defines (`GLIBCXX_3.4.30`, …), without the
    /// base entry (the file's own name).
    pub fn version_definitions(&mut self) -> io::Result<Vec<String>> {
        let Some(index) = self.section_of_type(SHT_GNU_VERDEF) else {
            return Ok(Vec::new());
        };
        let bytes = self.section_bytes(index)?;
        let strings = self.linked_strings(index)?;
        // goblin reads the section out of "the file" at `sh_offset`: hand it the section.
        let mut shdr = self.sections[index].clone();
        shdr.sh_offset = 0;
        let section = VerdefSection::parse(&bytes, &[shdr], self.ctx)
            .map_err(invalid)?
            .ok_or_else(|| invalid("no version definitions"))?;
        let mut names = Vec::new();
        for def in &section {
            if def.vd_flags & VER_FLG_BASE != 0 {
                continue;
            }
            if let Some(name) = def
                .iter()
                .next()
                .and_then(|aux| string_at(&strings, aux.vda_name))
            {
                names.push(name);
            }
        }
        Ok(names)
    }

    /// The NUL-terminated string that the first defined dynamic symbol among `names`
    /// points at (`MPII_Version_string` → `4.1.2`).
    pub fn symbol_string(&mut self, names: &[&str]) -> io::Result<Option<String>> {
        let Some(index) = self.section_of_type(SHT_DYNSYM) else {
            return Ok(None);
        };
        let bytes = self.section_bytes(index)?;
        let strings = self.linked_strings(index)?;
        let count = bytes.len() / goblin::elf::sym::Sym::size(self.ctx.container).max(1);
        let symbols = goblin::elf::sym::Sym::parse(&bytes, 0, count, self.ctx).map_err(invalid)?;
        for name in names {
            let found = symbols
                .iter()
                .find(|s| s.st_shndx != 0 && str_at(&strings, s.st_name) == Some(*name));
            let Some(sym) = found else { continue };
            let Some(sh) = self.sections.iter().find(|sh| {
                sh.sh_type != SHT_NOBITS
                    && sh.sh_addr <= sym.st_value
                    && sym.st_value < sh.sh_addr + sh.sh_size
            }) else {
                continue;
            };
            let offset = sh.sh_offset + (sym.st_value - sh.sh_addr);
            let len = (sh.sh_addr + sh.sh_size - sym.st_value).min(256);
            let text = self.read_at(offset, len)?;
            return Ok(string_at(&text, 0));
        }
        Ok(None)
    }

    /// The bytes of the read-only data section (`.rodata`), empty when there is none.
    pub fn rodata(&mut self) -> io::Result<Vec<u8>> {
        let shstrndx = usize::from(self.header.e_shstrndx);
        if shstrndx == 0 || shstrndx >= self.sections.len() {
            return Ok(Vec::new());
        }
        let names = self.section_bytes(shstrndx)?;
        let found = self
            .sections
            .iter()
            .position(|sh| str_at(&names, sh.sh_name) == Some(".rodata"));
        match found {
            Some(index) => self.section_bytes(index),
            None => Ok(Vec::new()),
        }
    }
}

/// The NUL-terminated UTF-8 string at `offset`, if there is one.
fn str_at(bytes: &[u8], offset: usize) -> Option<&str> {
    let rest = bytes.get(offset..)?;
    let end = rest.iter().position(|&b| b == 0)?;
    std::str::from_utf8(&rest[..end]).ok()
}

fn string_at(bytes: &[u8], offset: usize) -> Option<String> {
    str_at(bytes, offset).map(str::to_owned)
}

/// The ELF `e_machine` of the architecture paks was built for.
fn native_machine() -> Option<u16> {
    use goblin::elf::header::{EM_386, EM_AARCH64, EM_ARM, EM_PPC64, EM_RISCV, EM_S390, EM_X86_64};
    Some(match std::env::consts::ARCH {
        "x86_64" => EM_X86_64,
        "x86" => EM_386,
        "aarch64" => EM_AARCH64,
        "arm" => EM_ARM,
        "powerpc64" => EM_PPC64,
        "riscv64" => EM_RISCV,
        "s390x" => EM_S390,
        _ => return None,
    })
}
