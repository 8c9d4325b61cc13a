//! The statistics module against independent references (50-digit mpmath values and
//! published numbers) and its invariants (proptest). One binary, so one link.

mod properties;
mod reference;
