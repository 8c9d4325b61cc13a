//! The statistics module against independent references (50-digit mpmath values, published
//! numbers, gbstats and statsmodels) and its invariants (proptest). One binary, so one link.

mod factorial;
mod metrics_properties;
mod metrics_reference;
mod properties;
mod reference;
mod support;
