//! Measurements, their aggregation over repeated runs, and the three
//! outputs: RESULTS.md (tables), results.json, chart.svg.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use hdrhistogram::Histogram;

/// One measured figure of one system in one workload.
#[derive(Debug, Clone)]
pub(crate) struct Measurement {
    pub(crate) system: String,
    pub(crate) workload: String,
    pub(crate) threads: usize,
    /// The figure, in `unit`.
    pub(crate) value: f64,
    pub(crate) unit: &'static str,
    pub(crate) ops: u64,
    pub(crate) seconds: f64,
    /// Latency percentiles in nanoseconds (sampled), where measured.
    pub(crate) p50_ns: Option<u64>,
    pub(crate) p99_ns: Option<u64>,
    pub(crate) p999_ns: Option<u64>,
}

impl Measurement {
    pub(crate) fn from_runs<'h>(
        workload: &str,
        threads: usize,
        seconds: f64,
        runs: impl Iterator<Item = (u64, &'h Histogram<u64>)>,
        unit: &'static str,
    ) -> Self {
        let mut total = 0;
        let mut merged = Histogram::<u64>::new_with_bounds(1, 60_000_000_000, 3).expect("bounds");
        for (ops, h) in runs {
            total += ops;
            merged.add(h).expect("same bounds");
        }
        let pct = |q: f64| (!merged.is_empty()).then(|| merged.value_at_quantile(q));
        Self {
            system: String::new(),
            workload: workload.to_owned(),
            threads,
            value: total as f64 / seconds,
            unit,
            ops: total,
            seconds,
            p50_ns: pct(0.50),
            p99_ns: pct(0.99),
            p999_ns: pct(0.999),
        }
    }

    pub(crate) fn simple(
        workload: &str,
        threads: usize,
        value: f64,
        unit: &'static str,
        ops: u64,
        seconds: f64,
    ) -> Self {
        Self {
            system: String::new(),
            workload: workload.to_owned(),
            threads,
            value,
            unit,
            ops,
            seconds,
            p50_ns: None,
            p99_ns: None,
            p999_ns: None,
        }
    }

    pub(crate) fn of(mut self, system: &str) -> Self {
        self.system = system.to_owned();
        self
    }

    /// True when a larger figure is better (throughput) rather than smaller
    /// (bytes, seconds).
    pub(crate) fn higher_is_better(&self) -> bool {
        self.unit.ends_with("/s")
    }
}

/// The repeated measurements of one (workload, threads, system).
#[derive(Debug, Clone)]
pub(crate) struct Summary {
    pub(crate) runs: Vec<Measurement>,
}

impl Summary {
    fn sorted(&self) -> Vec<f64> {
        let mut v: Vec<f64> = self.runs.iter().map(|m| m.value).collect();
        v.sort_by(f64::total_cmp);
        v
    }

    pub(crate) fn median(&self) -> f64 {
        let v = self.sorted();
        v[v.len() / 2]
    }

    pub(crate) fn min(&self) -> f64 {
        self.sorted()[0]
    }

    pub(crate) fn max(&self) -> f64 {
        *self.sorted().last().expect("at least one run")
    }

    /// The run whose figure is the median (its latencies are reported).
    pub(crate) fn median_run(&self) -> &Measurement {
        let median = self.median();
        self.runs
            .iter()
            .find(|m| m.value == median)
            .expect("median is a run")
    }

    pub(crate) fn unit(&self) -> &'static str {
        self.runs[0].unit
    }
}

/// Everything measured, grouped: (workload, threads) -> system -> runs.
pub(crate) type Results = BTreeMap<(String, usize), BTreeMap<String, Summary>>;

pub(crate) fn group(all: &[Measurement]) -> Results {
    let mut results: Results = BTreeMap::new();
    for m in all {
        results
            .entry((m.workload.clone(), m.threads))
            .or_default()
            .entry(m.system.clone())
            .or_insert_with(|| Summary { runs: Vec::new() })
            .runs
            .push(m.clone());
    }
    results
}

pub(crate) fn median_of(
    results: &Results,
    workload: &str,
    threads: usize,
    system: &str,
) -> Option<f64> {
    results
        .get(&(workload.to_owned(), threads))?
        .get(system)
        .map(Summary::median)
}

fn human(v: f64) -> String {
    if v >= 1e6 {
        format!("{:.2} M", v / 1e6)
    } else if v >= 1e3 {
        format!("{:.1} k", v / 1e3)
    } else if v >= 10.0 {
        format!("{v:.0}")
    } else {
        format!("{v:.3}")
    }
}

fn micros(ns: Option<u64>) -> String {
    ns.map_or_else(|| "–".into(), |ns| format!("{:.2}", ns as f64 / 1000.0))
}

fn escape(s: &str) -> String {
    s.replace('\\', "\\\\").replace('"', "\\\"")
}

/// results.json: every run of every measurement.
pub(crate) fn json(all: &[Measurement], machine: &str, params: &str) -> String {
    let mut out = String::from("{\n");
    let _ = writeln!(out, "  \"machine\": \"{}\",", escape(machine));
    let _ = writeln!(out, "  \"parameters\": \"{}\",", escape(params));
    out.push_str("  \"measurements\": [\n");
    for (i, m) in all.iter().enumerate() {
        let opt = |v: Option<u64>| v.map_or_else(|| "null".to_owned(), |v| v.to_string());
        let _ = write!(
            out,
            "    {{\"system\": \"{}\", \"workload\": \"{}\", \"threads\": {}, \"value\": {:.3}, \"unit\": \"{}\", \"ops\": {}, \"seconds\": {:.6}, \"p50_ns\": {}, \"p99_ns\": {}, \"p999_ns\": {}}}",
            escape(&m.system),
            escape(&m.workload),
            m.threads,
            m.value,
            m.unit,
            m.ops,
            m.seconds,
            opt(m.p50_ns),
            opt(m.p99_ns),
            opt(m.p999_ns)
        );
        out.push_str(if i + 1 == all.len() { "\n" } else { ",\n" });
    }
    out.push_str("  ]\n}\n");
    out
}

/// The tables of RESULTS.md (one per workload and thread count).
pub(crate) fn tables(results: &Results, reference: &str) -> String {
    let mut out = String::new();
    for ((workload, threads), systems) in results {
        let unit = systems.values().next().map_or("", Summary::unit);
        let _ = writeln!(
            out,
            "\n### {workload}, {threads} thread{}\n",
            if *threads == 1 { "" } else { "s" }
        );
        let _ = writeln!(
            out,
            "| system | median {unit} | min | max | vs {reference} | p50 µs | p99 µs | p99.9 µs |"
        );
        out.push_str("|---|---:|---:|---:|---:|---:|---:|---:|\n");
        let base = systems.get(reference).map(Summary::median);
        let mut rows: Vec<_> = systems.iter().collect();
        let higher = systems
            .values()
            .next()
            .is_some_and(|s| s.runs[0].higher_is_better());
        rows.sort_by(|a, b| {
            let (x, y) = (a.1.median(), b.1.median());
            if higher {
                y.total_cmp(&x)
            } else {
                x.total_cmp(&y)
            }
        });
        for (system, s) in rows {
            let ratio = base.map_or_else(|| "–".into(), |b| format!("{:.2}x", s.median() / b));
            let m = s.median_run();
            let _ = writeln!(
                out,
                "| {system} | {} | {} | {} | {ratio} | {} | {} | {} |",
                human(s.median()),
                human(s.min()),
                human(s.max()),
                micros(m.p50_ns),
                micros(m.p99_ns),
                micros(m.p999_ns)
            );
        }
    }
    out
}

const COLORS: [&str; 8] = [
    "#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f",
];

/// chart.svg: for each throughput workload at `threads` threads, one bar
/// per system, as a share of the best system in that workload, labelled
/// with the absolute figure.
pub(crate) fn chart(results: &Results, threads: usize, systems: &[String], title: &str) -> String {
    let groups: Vec<_> = results
        .iter()
        .filter(|((_, t), s)| {
            *t == threads
                && s.values()
                    .next()
                    .is_some_and(|s| s.runs[0].higher_is_better())
        })
        .collect();
    let bar = 14.0;
    let gap = 12.0;
    let label_w = 130.0;
    let plot_w = 560.0;
    let legend_h = 24.0 + 18.0 * systems.len().div_ceil(4) as f64;
    let group_h = |n: usize| n as f64 * bar + gap;
    let height = 50.0 + legend_h + groups.iter().map(|(_, s)| group_h(s.len())).sum::<f64>();
    let width = label_w + plot_w + 110.0;
    let mut svg = String::new();
    let _ = writeln!(
        svg,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" font-family="sans-serif" font-size="11">"#
    );
    let _ = writeln!(svg, r#"<rect width="100%" height="100%" fill="white"/>"#);
    let _ = writeln!(
        svg,
        r#"<text x="10" y="20" font-size="14" font-weight="bold">{}</text>"#,
        escape(title)
    );
    for (i, name) in systems.iter().enumerate() {
        let x = 10.0 + (i % 4) as f64 * 190.0;
        let y = 34.0 + (i / 4) as f64 * 18.0;
        let _ = writeln!(
            svg,
            r#"<rect x="{x}" y="{}" width="12" height="12" fill="{}"/><text x="{}" y="{}">{}</text>"#,
            y,
            COLORS[i % COLORS.len()],
            x + 16.0,
            y + 10.0,
            escape(name)
        );
    }
    let mut y = 40.0 + legend_h;
    for ((workload, _), by_system) in groups {
        let best = by_system.values().map(Summary::median).fold(0.0, f64::max);
        let _ = writeln!(
            svg,
            r#"<text x="10" y="{}" font-weight="bold">{}</text>"#,
            y + by_system.len() as f64 * bar / 2.0 + 4.0,
            escape(workload)
        );
        for (i, name) in systems.iter().enumerate() {
            let Some(s) = by_system.get(name) else {
                continue;
            };
            let w = if best > 0.0 {
                s.median() / best * plot_w
            } else {
                0.0
            };
            let _ = writeln!(
                svg,
                r#"<rect x="{label_w}" y="{y}" width="{w:.1}" height="{}" fill="{}"/><text x="{:.1}" y="{}">{} {}</text>"#,
                bar - 2.0,
                COLORS[i % COLORS.len()],
                label_w + w + 4.0,
                y + bar - 4.0,
                human(s.median()),
                s.unit()
            );
            y += bar;
        }
        y += gap;
    }
    svg.push_str("</svg>\n");
    svg
}
