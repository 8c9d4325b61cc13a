//! What is stored of one user's enrollment: the variant of every experiment they were
//! assigned in, and whether they are recorded as held out. Read by the store
//! (`store::enrollments`), kept in memory per user (`engine::user_cache`).
//!
//! Entries are only ever made from what the database confirmed, so the memory can lag the
//! database but never contradict it: an experiment missing here is one the user had no
//! stored assignment in when read, and a new decision for it is an insert that keeps any
//! assignment stored meanwhile (by another instance).

/// One user's stored enrollment, as read from the database or written by this instance.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Enrollment {
    /// (experiment id, variant id), one per experiment the user is assigned in.
    variants: Box<[(i64, i64)]>,
    held_out: bool,
}

impl Enrollment {
    pub fn new(variants: Vec<(i64, i64)>, held_out: bool) -> Enrollment {
        Enrollment {
            variants: variants.into_boxed_slice(),
            held_out,
        }
    }

    /// The stored variant (id) of the experiment, if the user has one.
    pub fn variant_of(&self, experiment_id: i64) -> Option<i64> {
        self.variants
            .iter()
            .find(|(e, _)| *e == experiment_id)
            .map(|&(_, v)| v)
    }

    pub fn held_out(&self) -> bool {
        self.held_out
    }

    /// This enrollment with these assignments added (the stored ones win over any kept).
    pub fn with_variants(&self, stored: &[(i64, i64)]) -> Enrollment {
        let mut variants: Vec<(i64, i64)> = self
            .variants
            .iter()
            .filter(|(e, _)| !stored.iter().any(|(s, _)| s == e))
            .copied()
            .collect();
        variants.extend_from_slice(stored);
        Enrollment::new(variants, self.held_out)
    }

    /// This enrollment, recorded as held out.
    pub fn with_held_out(&self) -> Enrollment {
        Enrollment {
            variants: self.variants.clone(),
            held_out: true,
        }
    }

    /// What both know: a read that raced this instance's writes loses none of them.
    pub fn merged(&self, other: &Enrollment) -> Enrollment {
        let mut merged = self.with_variants(&other.variants);
        merged.held_out |= other.held_out;
        merged
    }

    /// Heap bytes beyond the value itself.
    pub fn heap_bytes(&self) -> usize {
        std::mem::size_of_val(&*self.variants)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stored_variants_replace_kept_ones_and_merging_keeps_both() {
        let kept = Enrollment::new(vec![(1, 10), (2, 20)], false);
        let added = kept.with_variants(&[(2, 21), (3, 30)]);
        assert_eq!(added.variant_of(1), Some(10));
        assert_eq!(added.variant_of(2), Some(21));
        assert_eq!(added.variant_of(3), Some(30));
        assert_eq!(added.variant_of(4), None);
        let read = Enrollment::new(vec![(4, 40)], true);
        let merged = added.merged(&read);
        assert!(merged.held_out());
        assert_eq!(merged.variant_of(4), Some(40));
        assert_eq!(merged.variant_of(1), Some(10));
        assert!(!kept.held_out() && kept.with_held_out().held_out());
    }
}
