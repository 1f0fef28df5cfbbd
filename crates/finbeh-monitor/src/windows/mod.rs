//! Live metrics: per-minute aggregates with HDR latency histograms (`minute_stats`, written by
//! the prediction-log writer), merged into rolling windows and time series, across replicas.

mod aggregate;
mod minute_store;
mod reader;
mod stats;

mod dropped;
pub(crate) use dropped::persist_dropped;

pub use aggregate::{Aggregate, LATENCY_HIGHEST_US, LATENCY_SIGNIFICANT_DIGITS};
pub use minute_store::{MINUTE_MS, MinuteKey, minute_of};
pub(crate) use minute_store::{add_minutes, aggregate_batch, backfill_from_predictions};
pub use reader::{MAX_SERIES_POINTS, MetricsReader, STANDARD_WINDOWS, TrafficFilter};
pub use stats::{LatencySummary, WindowStats};
