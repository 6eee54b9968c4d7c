//! Which packages get a layer of their own, and which share one, within a layer budget.
//!
//! Every package gets its own layer while the image fits: a package's layer is the blob
//! the registry already has, shared by every image that uses the package. Over budget,
//! the least-shared small packages are merged into one combined layer: the fewest other
//! packages depend on them (a library many packages need is likely in other images too,
//! so its layer is worth keeping shared), then the smallest, then by id, so the same
//! inputs always merge the same way.

/// One package, as planning sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlanItem {
    /// The package id, the last tie-breaker.
    pub id: String,
    /// Compressed layer size.
    pub size: u64,
    /// How many packages of the image depend on it, directly.
    pub dependents: usize,
}

/// The package layers of an image, in order: indexes into the planned items.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LayerPlan {
    /// One layer each, in the items' (dependency) order.
    pub singles: Vec<usize>,
    /// The packages merged into one combined layer (in the items' order), after the
    /// singles; empty when everything fits.
    pub merged: Vec<usize>,
}

impl LayerPlan {
    /// Package layers in the image.
    pub fn layers(&self) -> usize {
        self.singles.len() + usize::from(!self.merged.is_empty())
    }
}

/// Plan `items` (dependencies first) into at most `available` layers.
///
/// `available` must be at least 1.
pub fn plan(items: &[PlanItem], available: usize) -> LayerPlan {
    assert!(available >= 1, "at least one layer for packages");
    if items.len() <= available {
        return LayerPlan {
            singles: (0..items.len()).collect(),
            merged: Vec::new(),
        };
    }
    // Keep `available - 1` singles; the rest share the last layer.
    let merge_count = items.len() - (available - 1);
    let mut order: Vec<usize> = (0..items.len()).collect();
    order.sort_by(|&a, &b| {
        let (a, b) = (&items[a], &items[b]);
        (a.dependents, a.size, &a.id).cmp(&(b.dependents, b.size, &b.id))
    });
    let mut merged: Vec<usize> = order[..merge_count].to_vec();
    merged.sort_unstable();
    let singles = (0..items.len())
        .filter(|i| merged.binary_search(i).is_err())
        .collect();
    LayerPlan { singles, merged }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn item(id: &str, size: u64, dependents: usize) -> PlanItem {
        PlanItem {
            id: id.into(),
            size,
            dependents,
        }
    }

    #[test]
    fn everything_fits_in_order() {
        let items = [item("a", 1, 0), item("b", 2, 1)];
        let p = plan(&items, 2);
        assert_eq!(p.singles, [0, 1]);
        assert!(p.merged.is_empty());
        assert_eq!(p.layers(), 2);
    }

    #[test]
    fn merges_least_shared_then_smallest() {
        // `libc` is shared by all; the leaves are merged, smallest first.
        let items = [
            item("libc", 100, 3),
            item("big-leaf", 1000, 0),
            item("small-leaf", 1, 0),
            item("mid-leaf", 10, 0),
            item("tool", 5, 1),
        ];
        let p = plan(&items, 3);
        assert_eq!(p.layers(), 3);
        // Nothing depends on the leaves: they go first, whatever their size.
        assert_eq!(p.merged, [1, 2, 3]);
        assert_eq!(p.singles, [0, 4]);
        // With room for one more single, the biggest leaf keeps its own layer.
        let p = plan(&items, 4);
        assert_eq!(p.merged, [2, 3]);
    }

    #[test]
    fn deterministic_and_within_budget_for_any_size() {
        let items: Vec<PlanItem> = (0..300)
            .map(|i| item(&format!("p{i:03}"), (i * 37 % 101) as u64, i % 4))
            .collect();
        for available in [1, 2, 50, 99, 299, 300, 301] {
            let p = plan(&items, available);
            assert!(p.layers() <= available, "{available}");
            assert_eq!(p.singles.len() + p.merged.len(), items.len());
            assert_eq!(p, plan(&items, available));
        }
    }
}
