//! Charts drawn on the server as SVG: no scripts, no fonts or styles fetched, nothing
//! for the CSP to allow but a `data:` image. Rendered with an askama template
//! (`templates/chart.svg`), so every label is escaped like any page text.

use askama::Template;

use crate::expenses::money::{Currency, format_minor};

const WIDTH: i64 = 720;
const HEIGHT: i64 = 340;
const LEFT: i64 = 84;
const TOP: i64 = 44;
const PLOT_W: i64 = 440;
const PLOT_H: i64 = 240;
const LEGEND_X: i64 = LEFT + PLOT_W + 28;

/// Fill colours by series, chosen to stay apart for common colour-vision deficiencies.
const PALETTE: [&str; 8] = [
    "#1d4e89", "#e69f00", "#009e73", "#cc79a7", "#56b4e9", "#d55e00", "#6b6b6b", "#b59a00",
];

/// One stacked series: a label and one amount (minor units) per month.
#[derive(Debug, Clone)]
pub struct Series {
    pub label: String,
    pub values: Vec<i64>,
}

pub struct Rect {
    pub x: i64,
    pub y: i64,
    pub w: i64,
    pub h: i64,
    pub fill: &'static str,
    pub tip: String,
}

pub struct Label {
    pub x: i64,
    pub y: i64,
    pub text: String,
}

pub struct Key {
    pub y: i64,
    pub fill: &'static str,
    pub text: String,
}

#[derive(Template)]
#[template(path = "chart.svg")]
struct StackedBars {
    title: String,
    desc: String,
    width: i64,
    height: i64,
    left: i64,
    right: i64,
    top: i64,
    bottom: i64,
    legend_x: i64,
    bars: Vec<Rect>,
    ticks: Vec<Label>,
    months: Vec<Label>,
    legend: Vec<Key>,
    empty: bool,
}

/// The smallest "nice" step (1, 2 or 5 times a power of ten) that covers `max` in at
/// most five steps; never zero.
fn nice_step(max: i64) -> i64 {
    let mut magnitude = 1i64;
    loop {
        for m in [1, 2, 5] {
            let step = m * magnitude;
            if step.saturating_mul(5) >= max {
                return step;
            }
        }
        magnitude = magnitude.saturating_mul(10);
    }
}

/// A stacked bar chart: one bar per month, one coloured segment per series, a y axis in
/// whole units of `currency` and a legend. Returns the SVG document.
pub fn stacked_bars(
    title: &str,
    months: &[String],
    series: &[Series],
    currency: Currency,
) -> Result<String, askama::Error> {
    let scale = 10i64.pow(currency.exponent());
    let totals: Vec<i64> = (0..months.len())
        .map(|m| {
            series
                .iter()
                .map(|s| s.values.get(m).copied().unwrap_or(0).max(0))
                .sum()
        })
        .collect();
    let max_major = ceil_div(totals.iter().copied().max().unwrap_or(0), scale);
    let step = nice_step(max_major);
    let steps = ceil_div(max_major, step).max(1);
    let top_minor = (step * steps).saturating_mul(scale);
    let y_of = |minor: i64| -> i64 {
        let h = i128::from(minor) * i128::from(PLOT_H) / i128::from(top_minor);
        TOP + PLOT_H - i64::try_from(h).unwrap_or(PLOT_H)
    };
    let ticks = (0..=steps)
        .map(|i| {
            let minor = i * step * scale;
            Label {
                x: LEFT - 8,
                y: y_of(minor),
                text: whole_units(minor, currency),
            }
        })
        .collect();
    let slot = PLOT_W / (months.len().max(1) as i64);
    let bar_w = (slot * 3 / 5).max(1);
    let mut bars = Vec::new();
    for (m, month) in months.iter().enumerate() {
        let x = LEFT + slot * m as i64 + (slot - bar_w) / 2;
        let mut below = 0i64;
        for (i, s) in series.iter().enumerate() {
            let v = s.values.get(m).copied().unwrap_or(0).max(0);
            if v == 0 {
                continue;
            }
            // Edges from running sums, so rounding leaves no gaps between segments.
            let (y0, y1) = (y_of(below), y_of(below + v));
            below += v;
            bars.push(Rect {
                x,
                y: y1,
                w: bar_w,
                h: (y0 - y1).max(1),
                fill: PALETTE[i % PALETTE.len()],
                tip: format!(
                    "{}, {month}: {} {currency}",
                    s.label,
                    format_minor(v, currency)
                ),
            });
        }
    }
    let month_labels = months
        .iter()
        .enumerate()
        .map(|(m, month)| Label {
            x: LEFT + slot * m as i64 + slot / 2,
            y: TOP + PLOT_H + 20,
            text: month.clone(),
        })
        .collect();
    let legend = series
        .iter()
        .enumerate()
        .map(|(i, s)| Key {
            y: TOP + 20 * i as i64,
            fill: PALETTE[i % PALETTE.len()],
            text: s.label.clone(),
        })
        .collect();
    let height = HEIGHT.max(TOP + 20 * series.len() as i64 + 20);
    let chart = StackedBars {
        title: title.to_owned(),
        desc: format!(
            "Stacked bars, one per month from {} to {}, one segment per category; amounts in {currency}.",
            months.first().map_or("", String::as_str),
            months.last().map_or("", String::as_str),
        ),
        width: WIDTH,
        height,
        left: LEFT,
        right: LEFT + PLOT_W,
        top: TOP,
        bottom: TOP + PLOT_H,
        legend_x: LEGEND_X,
        empty: bars.is_empty(),
        bars,
        ticks,
        months: month_labels,
        legend,
    };
    chart.render()
}

fn whole_units(minor: i64, currency: Currency) -> String {
    let text = format_minor(minor, currency);
    match text.split_once('.') {
        Some((whole, _)) => whole.to_owned(),
        None => text,
    }
}

/// The SVG as a `data:` URI for an `<img>`: the page's CSP admits `data:` images, and
/// an image cannot run script or reach the page, so no `|safe` is needed anywhere.
pub fn data_uri(svg: &str) -> String {
    format!(
        "data:image/svg+xml;base64,{}",
        data_encoding::BASE64.encode(svg.as_bytes())
    )
}

/// Ceiling division for the non-negative amounts a chart draws (`i64::div_ceil` is unstable).
fn ceil_div(a: i64, b: i64) -> i64 {
    if b <= 0 { a } else { (a + b - 1) / b }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn steps_are_round() {
        assert_eq!(nice_step(0), 1);
        assert_eq!(nice_step(5), 1);
        assert_eq!(nice_step(7), 2);
        assert_eq!(nice_step(2_300), 500);
        assert_eq!(nice_step(10_001), 5_000);
    }
}
