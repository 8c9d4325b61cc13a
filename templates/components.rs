//! Small pieces shared by the pages: form fields with their label, hint and error; notices;
//! status badges; variant colour swatches.

use super::form_values::{FieldErrors, RuleRow};
use crate::domain::{ExperimentSpec, Kind, Op, PolicyKind, Status};
use maud::{Markup, html};

/// An experiment's kind in words: `A/B test`, `bandit`, `factorial`, `factorial bandit`.
pub fn kind_words(spec: &ExperimentSpec) -> &'static str {
    match (spec.kind, spec.policy) {
        (Kind::Ab, _) => "A/B test",
        (Kind::Bandit, _) => "bandit",
        (Kind::Factorial, PolicyKind::Ab) => "factorial",
        (Kind::Factorial, PolicyKind::Bandit) => "factorial bandit",
    }
}

pub fn csrf_input(token: &str) -> Markup {
    html! { input type="hidden" name="csrf" value=(token); }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tone {
    Good,
    Info,
    Warning,
    Bad,
}

impl Tone {
    fn class(self) -> &'static str {
        match self {
            Tone::Good => "notice good",
            Tone::Info => "notice info",
            Tone::Warning => "notice warning",
            Tone::Bad => "notice bad",
        }
    }
    /// A word and a symbol, so the tone never rests on colour alone.
    fn label(self) -> (&'static str, &'static str) {
        match self {
            Tone::Good => ("✓", "Done:"),
            Tone::Info => ("ℹ", "Note:"),
            Tone::Warning => ("⚠", "Warning:"),
            Tone::Bad => ("✕", "Error:"),
        }
    }
}

pub fn notice(tone: Tone, content: Markup) -> Markup {
    let (symbol, word) = tone.label();
    let role = if matches!(tone, Tone::Bad | Tone::Warning) {
        "alert"
    } else {
        "status"
    };
    html! {
        div class=(tone.class()) role=(role) {
            span.notice-symbol aria-hidden="true" { (symbol) }
            div { span.visually-hidden { (word) " " } (content) }
        }
    }
}

/// The status as a badge with its name in words.
pub fn status_badge(status: Status) -> Markup {
    let symbol = match status {
        Status::Draft => "✎",
        Status::Running => "▶",
        Status::Paused => "❚❚",
        Status::Stopped => "■",
    };
    html! {
        span class={ "badge status-" (status.as_str()) } {
            span aria-hidden="true" { (symbol) " " } (status.as_str())
        }
    }
}

/// A value with a mark when it crosses its threshold (`Some(true)` good, `Some(false)` bad): a
/// symbol and words, not only colour.
pub fn marked(text: String, crosses: Option<bool>, good: &str, bad: &str) -> Markup {
    html! {
        @match crosses {
            Some(true) => span.crosses.good { span aria-hidden="true" { "✓ " } (text) span.visually-hidden { " (" (good) ")" } },
            Some(false) => span.crosses.bad { span aria-hidden="true" { "✕ " } (text) span.visually-hidden { " (" (bad) ")" } },
            None => (text),
        }
    }
}

/// Colours for variants, in order: the Okabe–Ito palette (told apart with colour blindness)
/// and three darker ones; every one has at least 3:1 contrast on white.
pub const VARIANT_COLOURS: &[&str] = &[
    "#0072B2", "#D55E00", "#009E73", "#CC79A7", "#B07A00", "#3B8BC2", "#882255", "#117733",
    "#6E6E1F", "#555555",
];

/// Line dash patterns, so lines differ by more than colour.
pub const VARIANT_DASHES: &[&str] = &[
    "", "7 4", "2 3", "10 3 2 3", "4 4", "1 5", "12 4", "6 2 2 2", "3 6", "9 2",
];

pub fn colour(i: usize) -> &'static str {
    VARIANT_COLOURS[i % VARIANT_COLOURS.len()]
}

pub fn dash(i: usize) -> &'static str {
    VARIANT_DASHES[i % VARIANT_DASHES.len()]
}

/// A small line sample in the variant's colour and dash, as in the charts' legends.
pub fn swatch(i: usize) -> Markup {
    html! {
        svg.swatch width="22" height="10" viewBox="0 0 22 10" aria-hidden="true" focusable="false" {
            line x1="1" y1="5" x2="21" y2="5" stroke=(colour(i)) stroke-width="3"
                stroke-dasharray=[(!dash(i).is_empty()).then(|| dash(i))] {}
        }
    }
}

/// What a form field needs to be labelled and explained.
pub struct Field<'a> {
    /// The input's `name`, also its `id` and the key of its error.
    pub name: &'a str,
    pub label: &'a str,
    pub hint: Option<&'a str>,
    pub error: Option<&'a str>,
}

impl Field<'_> {
    fn described_by(&self) -> Option<String> {
        let mut ids = Vec::new();
        if self.hint.is_some() {
            ids.push(format!("{}-hint", self.name));
        }
        if self.error.is_some() {
            ids.push(format!("{}-error", self.name));
        }
        (!ids.is_empty()).then(|| ids.join(" "))
    }

    fn invalid(&self) -> Option<&'static str> {
        self.error.map(|_| "true")
    }
}

fn hint_and_error(f: &Field) -> (Markup, Markup) {
    (
        html! { @if let Some(h) = f.hint { p.hint id={ (f.name) "-hint" } { (h) } } },
        field_error(f.name, f.error),
    )
}

/// The error message of a field (empty when there is none).
pub fn field_error(name: &str, error: Option<&str>) -> Markup {
    html! {
        @if let Some(e) = error {
            p.field-error id={ (name) "-error" } { span aria-hidden="true" { "⚠ " } (e) }
        }
    }
}

/// How an `<input>` behaves.
#[derive(Default)]
pub struct InputOptions<'a> {
    pub input_type: Option<&'a str>,
    pub inputmode: Option<&'a str>,
    pub placeholder: Option<&'a str>,
    pub required: bool,
    /// A unit shown after the box, e.g. "%".
    pub suffix: Option<&'a str>,
    pub autocomplete: Option<&'a str>,
    pub pattern: Option<&'a str>,
}

pub fn text_field(f: &Field, value: &str, options: InputOptions) -> Markup {
    let (hint, error) = hint_and_error(f);
    html! {
        div.field.has-error[f.error.is_some()] {
            label for=(f.name) { (f.label) }
            (hint)
            div.input-row {
                input id=(f.name) name=(f.name) value=(value)
                    type=(options.input_type.unwrap_or("text"))
                    inputmode=[options.inputmode] placeholder=[options.placeholder]
                    autocomplete=(options.autocomplete.unwrap_or("off"))
                    pattern=[options.pattern]
                    required[options.required]
                    aria-describedby=[f.described_by()] aria-invalid=[f.invalid()];
                @if let Some(s) = options.suffix { span.suffix aria-hidden="true" { (s) } }
            }
            (error)
        }
    }
}

pub fn textarea_field(f: &Field, value: &str, rows: u32, code: bool) -> Markup {
    let (hint, error) = hint_and_error(f);
    html! {
        div.field.has-error[f.error.is_some()] {
            label for=(f.name) { (f.label) }
            (hint)
            textarea id=(f.name) name=(f.name) rows=(rows) .code[code] spellcheck=[code.then_some("false")]
                aria-describedby=[f.described_by()] aria-invalid=[f.invalid()] { (value) }
            (error)
        }
    }
}

pub fn select_field(f: &Field, value: &str, options: &[(&str, &str)]) -> Markup {
    let (hint, error) = hint_and_error(f);
    html! {
        div.field.has-error[f.error.is_some()] {
            label for=(f.name) { (f.label) }
            (hint)
            select id=(f.name) name=(f.name) aria-describedby=[f.described_by()] aria-invalid=[f.invalid()] {
                @for (v, label) in options {
                    option value=(v) selected[*v == value] { (label) }
                }
            }
            (error)
        }
    }
}

/// A group of radio buttons, each with a line that explains it.
pub fn radio_field(f: &Field, value: &str, options: &[(&str, &str, &str)]) -> Markup {
    let (hint, error) = hint_and_error(f);
    html! {
        fieldset.field.radios.has-error[f.error.is_some()] aria-describedby=[f.described_by()] {
            legend { (f.label) }
            (hint)
            @for (v, label, explanation) in options {
                @let id = format!("{}-{}", f.name, v);
                div.radio {
                    input type="radio" id=(id) name=(f.name) value=(v) checked[*v == value];
                    label for=(id) { strong { (label) } " — " (explanation) }
                }
            }
            (error)
        }
    }
}

/// A field named `name`, with its error (if any) taken from `errors`.
pub fn field<'a>(
    errors: &'a FieldErrors,
    name: &'a str,
    label: &'a str,
    hint: Option<&'a str>,
) -> Field<'a> {
    Field {
        name,
        label,
        hint,
        error: errors.get(name),
    }
}

/// How the forms and the definition name an operator.
pub fn op_words(op: Op) -> &'static str {
    match op {
        Op::Eq => "is",
        Op::Neq => "is not",
        Op::In => "is one of",
        Op::NotIn => "is none of",
        Op::Lt => "is less than",
        Op::Lte => "is at most",
        Op::Gt => "is greater than",
        Op::Gte => "is at least",
        Op::Exists => "exists",
    }
}

/// Every operator as a choice: (JSON name, words).
fn op_choices() -> Vec<(&'static str, &'static str)> {
    Op::ALL
        .iter()
        .map(|&op| (op.as_str(), op_words(op)))
        .collect()
}

/// One condition row (`{prefix}-{i}-{attribute,op,value}`), as the experiment's targeting and
/// the segment form show them; `legend` names the row for screen readers ("Rule 1").
pub fn condition_row(
    prefix: &str,
    legend: &str,
    i: usize,
    row: &RuleRow,
    errors: &FieldErrors,
    value_placeholder: &str,
) -> Markup {
    let name = |c: &str| format!("{prefix}-{i}-{c}");
    let (attribute, op, value) = (name("attribute"), name("op"), name("value"));
    let row_error = format!("{prefix}-{i}");
    html! {
        fieldset.rule-row .has-error[errors.get(&row_error).is_some()] {
            legend.visually-hidden { (legend) " " (i + 1) }
            (text_field(&field(errors, &attribute, "Attribute", None), &row.attribute,
                InputOptions { placeholder: Some("platform"), ..InputOptions::default() }))
            (select_field(&field(errors, &op, "Comparison", None), &row.op, &op_choices()))
            (text_field(&field(errors, &value, "Value", None), &row.value,
                InputOptions { placeholder: Some(value_placeholder), ..InputOptions::default() }))
            (field_error(&row_error, errors.get(&row_error)))
        }
    }
}

/// The summary at the top of a refused form: `what` (e.g. "The segment was not saved"), then
/// every error as a link to its field, named by `label` and reached at the id `anchor` gives.
pub fn error_summary(
    errors: &FieldErrors,
    what: &str,
    label: impl Fn(&str) -> String,
    anchor: impl Fn(&str) -> String,
) -> Markup {
    html! {
        @if !errors.is_empty() {
            div.error-summary role="alert" aria-labelledby="error-summary-title" tabindex="-1" {
                h2 #error-summary-title {
                    (what) " — " (errors.len()) (if errors.len() == 1 { " thing needs" } else { " things need" }) " fixing:"
                }
                ul {
                    @for (field, message) in errors.iter() {
                        li { a href={ "#" (anchor(field)) } { (label(field)) ": " (message) } }
                    }
                }
            }
        }
    }
}
