//! One way every controller registers its Prometheus metrics: under its prefix, each with a name and
//! a help text, the registry holding a clone that shares the series.

/// `register_metrics!(registry, "kubejit_x", { "name" => "help": metric, … })` registers a clone
/// of each metric under `kubejit_x_name`.
macro_rules! register_metrics {
    ($registry:expr, $prefix:literal, { $($name:literal => $help:literal: $metric:expr),+ $(,)? }) => {{
        let sub = $registry.sub_registry_with_prefix($prefix);
        $(sub.register($name, $help, $metric.clone());)+
    }};
}

pub(crate) use register_metrics;
