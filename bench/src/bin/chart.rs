//! The benchmark chart: echo throughput (msgs/s) and p99 latency per scenario and server,
//! grouped bars, from the medians bench/run writes as JSON.
//! usage: chart BENCHMARKS.json BENCHMARKS.svg
use plotters::coord::combinators::IntoLogRange;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};
use serde_json::Value;

const WIDTH: u32 = 1100;
const HEIGHT: u32 = 900;
const HEADER: u32 = 104;

fn color(server: &str, index: usize) -> RGBColor {
    match server {
        "raw" => RGBColor(120, 120, 120),
        "axum" => RGBColor(52, 101, 164),
        "wsframe" => RGBColor(230, 120, 20),
        "baseline" => RGBColor(240, 190, 130),
        "fastws" => RGBColor(90, 40, 150),
        "fastapi" => RGBColor(46, 140, 87),
        _ => [
            RGBColor(150, 60, 160),
            RGBColor(200, 60, 60),
            RGBColor(30, 160, 170),
        ][index % 3],
    }
}

fn thousands(v: f64) -> String {
    if v >= 1e6 {
        format!("{:.2}M", v / 1e6)
    } else if v >= 1e3 {
        format!("{:.0}k", v / 1e3)
    } else {
        format!("{v:.0}")
    }
}

/// Axis labels of the log-scale latency axis.
fn axis_millis(ms: f64) -> String {
    if ms >= 1000.0 {
        format!("{} s", ms / 1000.0)
    } else {
        format!("{ms} ms")
    }
}

fn millis(ms: f64) -> String {
    if ms >= 100.0 {
        format!("{ms:.0} ms")
    } else if ms >= 10.0 {
        format!("{ms:.1} ms")
    } else {
        format!("{ms:.2} ms")
    }
}

/// One bar: group (scenario) index, server, value.
struct Bar {
    group: usize,
    server: usize,
    value: f64,
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    if args.len() != 3 {
        return Err("usage: chart BENCHMARKS.json BENCHMARKS.svg".into());
    }
    let data: Value = serde_json::from_str(&std::fs::read_to_string(&args[1])?)?;
    let echo = data["echo"].as_array().ok_or("no echo scenarios in the JSON")?;
    let scenarios: Vec<String> = echo
        .iter()
        .map(|s| s["scenario"].as_str().unwrap_or("?").to_string())
        .collect();
    // Servers in the order they first appear.
    let mut servers: Vec<String> = Vec::new();
    let (mut rates, mut p99s) = (Vec::new(), Vec::new());
    for (group, scenario) in echo.iter().enumerate() {
        for row in scenario["servers"].as_array().into_iter().flatten() {
            let name = row["server"].as_str().unwrap_or("?").to_string();
            let server = servers.iter().position(|s| *s == name).unwrap_or_else(|| {
                servers.push(name);
                servers.len() - 1
            });
            if let Some(value) = row["msgs_per_sec"].as_f64() {
                rates.push(Bar { group, server, value });
            }
            if let Some(value) = row["p99_us"].as_f64() {
                p99s.push(Bar {
                    group,
                    server,
                    value: value / 1000.0,
                });
            }
        }
    }
    if rates.is_empty() {
        return Err("no echo figures in the JSON".into());
    }
    let meta = &data["meta"];
    let rounds = meta["rounds"].as_u64().unwrap_or(0);
    let title = format!(
        "wsframe benchmarks: echo, medians of {rounds} round{} × {} s",
        if rounds == 1 { "" } else { "s" },
        meta["secs"].as_u64().unwrap_or(0)
    );
    let subtitle = format!(
        "{} · commit {} · {} · server and load generator share the machine",
        meta["date"].as_str().unwrap_or(""),
        meta["commit"].as_str().unwrap_or("?"),
        meta["machine"].as_str().unwrap_or(""),
    );

    let root = SVGBackend::new(&args[2], (WIDTH, HEIGHT)).into_drawing_area();
    root.fill(&WHITE)?;
    let (header, body) = root.split_vertically(HEADER);
    header.draw(&Text::new(
        title,
        (WIDTH as i32 / 2, 10),
        ("sans-serif", 28)
            .into_font()
            .color(&BLACK)
            .pos(Pos::new(HPos::Center, VPos::Top)),
    ))?;
    header.draw(&Text::new(
        subtitle,
        (WIDTH as i32 / 2, 44),
        ("sans-serif", 17)
            .into_font()
            .color(&RGBColor(80, 80, 80))
            .pos(Pos::new(HPos::Center, VPos::Top)),
    ))?;
    // The legend, once, as a row under the title.
    let swatch = 18;
    let item = |name: &str| swatch + 8 + (name.len() as i32 * 10) + 28;
    let mut x = WIDTH as i32 / 2 - servers.iter().map(|s| item(s)).sum::<i32>() / 2;
    for (index, server) in servers.iter().enumerate() {
        header.draw(&Rectangle::new(
            [(x, 72), (x + swatch, 72 + swatch)],
            color(server, index).filled(),
        ))?;
        header.draw(&Text::new(
            server.clone(),
            (x + swatch + 8, 72 + swatch / 2),
            ("sans-serif", 20)
                .into_font()
                .color(&BLACK)
                .pos(Pos::new(HPos::Left, VPos::Center)),
        ))?;
        x += item(server);
    }
    let (top, bottom) = body.split_vertically((HEIGHT - HEADER) / 2);

    let groups = scenarios.len();
    let width = 0.8 / servers.len() as f64;
    let bar_x = |bar: &Bar| {
        let left = bar.group as f64 - 0.4 + bar.server as f64 * width;
        (left + width * 0.08, left + width * 0.92)
    };
    let label_x = |v: &f64| {
        let i = v.round();
        if (v - i).abs() < 1e-6 && i >= 0.0 && (i as usize) < groups {
            scenarios[i as usize].clone()
        } else {
            String::new()
        }
    };
    let x_range = -0.5..(groups as f64 - 0.5);
    let label_font = ("sans-serif", 16).into_font();

    // Throughput, linear scale.
    let max_rate = rates.iter().map(|b| b.value).fold(0.0, f64::max);
    let mut chart = ChartBuilder::on(&top)
        .caption("throughput (msgs/s, higher is better)", ("sans-serif", 22))
        .margin(12)
        .x_label_area_size(34)
        .y_label_area_size(84)
        .build_cartesian_2d(x_range.clone(), 0.0..max_rate * 1.15)?;
    chart
        .configure_mesh()
        .disable_x_mesh()
        .x_labels(groups + 1)
        .x_label_formatter(&label_x)
        .y_label_formatter(&|v| thousands(*v))
        .y_desc("msgs/s")
        .label_style(("sans-serif", 17))
        .light_line_style(RGBColor(238, 238, 238))
        .draw()?;
    for (index, server) in servers.iter().enumerate() {
        let fill = color(server, index);
        chart.draw_series(rates.iter().filter(|b| b.server == index).map(|b| {
            let (x0, x1) = bar_x(b);
            Rectangle::new([(x0, 0.0), (x1, b.value)], fill.filled())
        }))?;
        chart.draw_series(rates.iter().filter(|b| b.server == index).map(|b| {
            let (x0, x1) = bar_x(b);
            Text::new(
                thousands(b.value),
                ((x0 + x1) / 2.0, b.value),
                label_font
                    .clone()
                    .color(&BLACK)
                    .pos(Pos::new(HPos::Center, VPos::Bottom)),
            )
        }))?;
    }

    // p99 latency, log scale.
    let max_ms = p99s.iter().map(|b| b.value).fold(0.0, f64::max).max(1.0);
    let min_ms = p99s
        .iter()
        .map(|b| b.value)
        .fold(f64::INFINITY, f64::min)
        .min(max_ms);
    let floor = 10f64.powf((min_ms / 1.5).log10().floor()).max(0.001);
    let ceiling = max_ms * 2.0;
    let mut chart = ChartBuilder::on(&bottom)
        .caption(
            "p99 latency, send to echo (ms, log scale, lower is better)",
            ("sans-serif", 22),
        )
        .margin(12)
        .x_label_area_size(34)
        .y_label_area_size(84)
        .build_cartesian_2d(x_range, (floor..ceiling).log_scale())?;
    chart
        .configure_mesh()
        .disable_x_mesh()
        .x_labels(groups + 1)
        .x_label_formatter(&label_x)
        .y_label_formatter(&|v| axis_millis(*v))
        .y_desc("p99")
        .label_style(("sans-serif", 17))
        .light_line_style(RGBColor(238, 238, 238))
        .draw()?;
    for (index, server) in servers.iter().enumerate() {
        let fill = color(server, index);
        chart.draw_series(p99s.iter().filter(|b| b.server == index).map(|b| {
            let (x0, x1) = bar_x(b);
            Rectangle::new([(x0, floor), (x1, b.value)], fill.filled())
        }))?;
        chart.draw_series(p99s.iter().filter(|b| b.server == index).map(|b| {
            let (x0, x1) = bar_x(b);
            Text::new(
                millis(b.value),
                ((x0 + x1) / 2.0, b.value),
                label_font
                    .clone()
                    .color(&BLACK)
                    .pos(Pos::new(HPos::Center, VPos::Bottom)),
            )
        }))?;
    }
    root.present()?;
    Ok(())
}
