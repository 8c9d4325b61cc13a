//! The dashboard's views: maud functions that turn view data into HTML. One file per page or
//! component; every page is wrapped by `layout::layout`. No I/O happens here.

pub mod assets;
pub mod audit;
pub mod behavior_row;
pub mod charts;
pub mod components;
pub mod contextual;
pub mod error_page;
pub mod experiment_form;
pub mod experiment_list;
pub mod experiment_metrics;
pub mod experiment_page;
pub mod factorial;
pub mod form_values;
pub mod format;
pub mod keys;
pub mod layout;
pub mod metric_grid;
pub mod metric_pages;
pub mod over_time;
pub mod segment_pages;
pub mod sign_in;
pub mod stop_confirmation;
pub mod user_page;
pub mod webhooks;
