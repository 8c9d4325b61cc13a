//! The create and edit forms. Errors appear next to their field and in a summary at the top
//! that links to each; "add a row" buttons work without JavaScript (the form comes back with
//! one more row and everything typed kept).

use super::components::{
    InputOptions, Tone, condition_row, csrf_input, error_summary, field as f, field_error,
    kind_words, notice, radio_field, select_field, swatch, text_field, textarea_field,
};
use super::experiment_metrics::{
    add_guardrail_button, draft_goal_select, goal_fields, goal_words, metric_field_label,
    secondary_and_guardrails,
};
use super::form_values::{ExperimentForm, FieldErrors, VariantRow};
use super::format;
use super::layout::{Nav, Page, breadcrumb, layout};
use crate::domain::{Experiment, Kind, Metric, PolicyKind, Status};
use maud::{Markup, html};

pub struct CreateView<'a> {
    pub csrf: &'a str,
    pub form: &'a ExperimentForm,
    pub errors: &'a FieldErrors,
    /// Every segment as (key, name), for the pinned rules.
    pub segments: &'a [(String, String)],
    /// The metric library, to pick the goal, secondary metrics and guardrails from.
    pub metrics: &'a [Metric],
}

pub struct EditView<'a> {
    pub csrf: &'a str,
    pub experiment: &'a Experiment,
    pub form: &'a ExperimentForm,
    pub errors: &'a FieldErrors,
    /// Every segment as (key, name), for the pinned rules.
    pub segments: &'a [(String, String)],
    /// The metric library, to pick the secondary metrics and guardrails (and a draft's goal).
    pub metrics: &'a [Metric],
}

const DIMENSIONS: &[(&str, &str, &str)] = &[
    (
        "content",
        "Content",
        "what is shown: a text, an image, an offer",
    ),
    (
        "timing",
        "Timing",
        "when it is sent: the hour of a push, a delay",
    ),
    (
        "trigger",
        "Trigger",
        "what sets it off: the event that opens a message",
    ),
];

const ANALYSES: &[(&str, &str, &str)] = &[
    (
        "bayesian",
        "Bayesian",
        "a winner once it is 95% likely best and cheap to ship; read it as often as you like, but it promises no error rate",
    ),
    (
        "sequential",
        "Sequential",
        "a winner once the lift's confidence sequence excludes no gain: at most 5% false winners however often you look",
    ),
];

const KINDS: &[(&str, &str, &str)] = &[
    (
        "ab",
        "A/B test",
        "fixed shares of users; the cleanest comparison",
    ),
    (
        "bandit",
        "Bandit",
        "Thompson sampling moves users to what works while it learns",
    ),
];

/// Readable names for the error summary.
fn field_label(field: &str) -> String {
    let named = [
        ("key", "Key"),
        ("name", "Name"),
        ("description", "Description"),
        ("dimension", "Dimension"),
        ("kind", "Kind"),
        ("control", "Control"),
        ("goal_event", "Goal event"),
        ("goal_metric", "Goal metric"),
        ("traffic", "Traffic"),
        ("floor", "Floor"),
        ("min_users_per_arm", "Minimum users per variant"),
        ("min_runtime", "Minimum runtime"),
        ("minimum_effect", "Smallest lift that matters"),
        ("context", "Context attributes"),
        ("variants", "Variants"),
        ("weights", "Weights"),
        ("targeting", "Targeting"),
        ("targeting_json", "Targeting groups and segments (JSON)"),
        ("pins", "Pinned rules"),
        ("layer", "Layer"),
        ("layer_key", "Layer key"),
        ("layer_from", "Layer range from"),
        ("layer_to", "Layer range to"),
        ("form", "Form"),
    ];
    if let Some((_, label)) = named.iter().find(|(k, _)| *k == field) {
        return label.to_string();
    }
    if let Some(label) = metric_field_label(field) {
        return label;
    }
    let parts: Vec<&str> = field.split('-').collect();
    match parts.as_slice() {
        ["variant", i, column] => format!(
            "Variant {}: {column}",
            i.parse::<usize>().map_or(0, |i| i + 1)
        ),
        ["rule", i, ..] => format!("Targeting rule {}", i.parse::<usize>().map_or(0, |i| i + 1)),
        ["pin", i, ..] => format!("Pinned rule {}", i.parse::<usize>().map_or(0, |i| i + 1)),
        _ => field.to_string(),
    }
}

/// The element an error links to: the field itself, or the group that holds it.
fn anchor(field: &str) -> String {
    match field {
        "weights" | "variants" => "variants".into(),
        "targeting" => "targeting".into(),
        "pins" => "pins".into(),
        "layer" => "layer".into(),
        "dimension" => "dimension-content".into(),
        "kind" => "kind-ab".into(),
        "goal_source" => "goal_source-inline".into(),
        f if f.starts_with("rule-") && f.matches('-').count() == 1 => format!("{f}-attribute"),
        f => f.into(),
    }
}

fn percent_input() -> InputOptions<'static> {
    InputOptions {
        inputmode: Some("decimal"),
        suffix: Some("%"),
        ..InputOptions::default()
    }
}

fn traffic_fields(form: &ExperimentForm, errors: &FieldErrors) -> Markup {
    html! {
        (text_field(&f(errors, "traffic", "Traffic",
            Some("The share of users who match the targeting that take part. Lowering it later drops users above the new share; raising it brings them back with their old variant.")),
            &form.traffic, percent_input()))
        div.only-bandit {
            (text_field(&f(errors, "floor", "Floor per variant (bandits only)",
                Some("The least share of new users every variant keeps, so none is starved of data. Empty: 1%.")),
                &form.floor, percent_input()))
        }
        (text_field(&f(errors, "min_users_per_arm", "Minimum users per variant",
            Some("No verdict is given before every variant has this many users. Empty: 100.")),
            &form.min_users_per_arm, InputOptions { inputmode: Some("numeric"), ..InputOptions::default() }))
        (radio_field(&f(errors, "analysis", "What decides the verdict", None), &form.analysis, ANALYSES))
        (text_field(&f(errors, "cuped", "CUPED lookback",
            Some("Adjust conversion and mean metrics for each user's activity in this window before their assignment (narrower intervals, same estimate). `off` turns it off. Empty: 14d.")),
            &form.cuped, InputOptions::default()))
        (verdict_fields(form, errors))
    }
}

/// The minimum runtime and the smallest lift that matters (create and edit forms alike).
fn verdict_fields(form: &ExperimentForm, errors: &FieldErrors) -> Markup {
    html! {
        (text_field(&f(errors, "min_runtime", "Minimum runtime",
            Some("No “ship” verdict before the experiment has run this long: a day-of-week effect needs a whole week. A number and a unit (s, m, h, d); 0s: none. Empty: 7d.")),
            &form.min_runtime, InputOptions::default()))
        (text_field(&f(errors, "minimum_effect", "Smallest lift that matters",
            Some("A relative lift smaller than this counts as no difference. Empty: 5%.")),
            &form.minimum_effect, percent_input()))
    }
}

fn rule_rows(form: &ExperimentForm, errors: &FieldErrors) -> Markup {
    html! {
        fieldset.group #targeting .has-error[errors.get("targeting").is_some()] {
            legend { "Targeting" }
            p.hint { "Who can take part, by the attributes the app sends. Every rule must hold; with no rules, everyone can. "
                "For “is one of”, separate values with commas. Numbers and true/false are read as such; put a value in double quotes to keep it text (\"42\")." }
            (field_error("targeting", errors.get("targeting")))
            @for (i, rule) in form.rules.iter().enumerate() {
                (condition_row("rule", "Rule", i, rule, errors, "ios, android"))
            }
            (textarea_field(&f(errors, "targeting_json", "More rules as JSON (optional)",
                Some("Groups and segments, added to the rules above: a list such as [{\"segment\": \"returning-buyers\"}, {\"any\": [{\"attribute\": \"platform\", \"op\": \"eq\", \"value\": \"ios\"}, {\"attribute\": \"visits\", \"op\": \"gt\", \"value\": 3}]}]. Segments are defined on the Segments page.")),
                &form.targeting_json, 3, true))
        }
    }
}

fn layer_fields(form: &ExperimentForm, errors: &FieldErrors) -> Markup {
    html! {
        fieldset.group #layer .has-error[errors.get("layer").is_some()] {
            legend { "Layer (optional)" }
            p.hint { "Experiments of one layer never share a user: each user falls at one place of the layer, and takes part only in the experiment whose range holds it. Ranges of a layer must not overlap. Leave the key empty for no layer." }
            (field_error("layer", errors.get("layer")))
            (text_field(&f(errors, "layer_key", "Layer key", None), &form.layer_key,
                InputOptions { placeholder: Some("home-screen"), ..InputOptions::default() }))
            (text_field(&f(errors, "layer_from", "From", None), &form.layer_from, percent_input()))
            (text_field(&f(errors, "layer_to", "To", None), &form.layer_to, percent_input()))
        }
    }
}

/// The pinned-rule rows (`pin-{i}-{segment,variant}`) of both forms. `variants` are the
/// experiment's variants as (key, name) to choose from when editing; `None` when creating,
/// where the variants are typed in the same form, so the variant's key is typed too.
fn pin_rows(
    form: &ExperimentForm,
    errors: &FieldErrors,
    segment_names: &[(String, String)],
    variants: Option<&[(&str, &str)]>,
) -> Markup {
    let mut segments: Vec<(&str, &str)> = vec![("", "— choose a segment —")];
    segments.extend(segment_names.iter().map(|(k, n)| (k.as_str(), n.as_str())));
    let variant_choices = variants.map(|variants| {
        let mut choices: Vec<(&str, &str)> = vec![("", "— choose a variant —")];
        choices.extend_from_slice(variants);
        choices
    });
    html! {
        fieldset.group #pins .has-error[errors.get("pins").is_some()] {
            legend { "Pinned rules" }
            p.hint { "Checked in order before the experiment: users of the first matching segment always get its variant and are not part of the results. Users who already have a variant keep it. Empty rows are ignored." }
            (field_error("pins", errors.get("pins")))
            @if segment_names.is_empty() {
                p.muted { "No segments yet: " a href="/dashboard/segments/new" { "create one" } " first." }
            }
            @for (i, pin) in form.pins.iter().enumerate() {
                @let segment = format!("pin-{i}-segment");
                @let variant = format!("pin-{i}-variant");
                // Not `rule-row`: the script's "add a targeting rule" copies the last of those.
                fieldset.pin-row {
                    legend.visually-hidden { "Pinned rule " (i + 1) }
                    (select_field(&f(errors, &segment, "Users in the segment", None), &pin.segment, &segments))
                    @match &variant_choices {
                        Some(choices) => (select_field(&f(errors, &variant, "always get", None), &pin.variant, choices)),
                        None => (text_field(&f(errors, &variant, "always get the variant", Some("Its key, as typed above")), &pin.variant,
                            InputOptions { placeholder: Some("b"), ..InputOptions::default() })),
                    }
                }
            }
        }
    }
}

fn variant_row(i: usize, row: &VariantRow, errors: &FieldErrors) -> Markup {
    let name = |c: &str| format!("variant-{i}-{c}");
    let (key, label, payload, weight) =
        (name("key"), name("name"), name("payload"), name("weight"));
    html! {
        fieldset.variant-row {
            legend { (swatch(i)) " Variant " (i + 1) }
            div.variant-grid {
                (text_field(&f(errors, &key, "Key", Some("Short, lowercase: a, b, morning")), &row.key,
                    InputOptions { autocomplete: Some("off"), ..InputOptions::default() }))
                (text_field(&f(errors, &label, "Name (optional)", None), &row.name, InputOptions::default()))
                div.only-ab {
                    (text_field(&f(errors, &weight, "Weight (A/B only)", Some("Empty everywhere: equal shares")), &row.weight, percent_input()))
                }
            }
            (textarea_field(&f(errors, &payload, "Payload (JSON)",
                Some("What the app receives for this variant, e.g. {\"text\": \"Hello\"} or \"evening\". Every variant's payload must be of one JSON type.")),
                &row.payload, 3, true))
            div.radio {
                input type="radio" id={ "control-" (i) } name="control" value=(i) checked[row.control];
                label for={ "control-" (i) } { "This is the control (the baseline the others are compared with)" }
            }
        }
    }
}

pub fn create_page(view: &CreateView) -> Markup {
    let (form, errors) = (view.form, view.errors);
    layout(
        &Page::signed_in("New experiment", view.csrf, Nav::New),
        html! {
            h1 { "New experiment" }
            (error_summary(errors, "The experiment was not created", field_label, anchor))
            form.experiment-form method="post" action="/dashboard/experiments" data-kind=(form.kind) {
                (csrf_input(view.csrf))
                fieldset.group {
                    legend { "About" }
                    (text_field(&f(errors, "key", "Key",
                        Some("How apps and exports name it: 1 to 64 lowercase letters, digits, - _ or . (fixed once created).")),
                        &form.key, InputOptions { required: true, placeholder: Some("push-time"), ..InputOptions::default() }))
                    (text_field(&f(errors, "name", "Name", None), &form.name,
                        InputOptions { required: true, placeholder: Some("Push send time"), ..InputOptions::default() }))
                    (textarea_field(&f(errors, "description", "Description (optional)", Some("The hypothesis, for whoever reads the results later.")),
                        &form.description, 2, false))
                    (radio_field(&f(errors, "dimension", "What the variants vary", None), &form.dimension, DIMENSIONS))
                }
                (goal_fields(form, errors, view.metrics))
                (secondary_and_guardrails(form, errors, view.metrics))
                fieldset.group {
                    legend { "How users are split" }
                    (radio_field(&f(errors, "kind", "Kind", None), &form.kind, KINDS))
                    (traffic_fields(form, errors))
                    (text_field(&f(errors, "context", "Context attributes (optional)",
                        Some("Up to 3 user attributes, separated by commas (for example: platform, returning). A bandit then learns the best variant for each combination of their values; results show every segment. Fixed once created.")),
                        &form.context, InputOptions::default()))
                }
                fieldset.group #variants .has-error[errors.get("variants").is_some() || errors.get("weights").is_some()] {
                    legend { "Variants" }
                    p.hint { "At least two. Empty rows are ignored." }
                    (field_error("variants", errors.get("variants")))
                    (field_error("weights", errors.get("weights")))
                    (field_error("control", errors.get("control")))
                    @for (i, row) in form.variants.iter().enumerate() {
                        (variant_row(i, row, errors))
                    }
                }
                (rule_rows(form, errors))
                (pin_rows(form, errors, view.segments, None))
                (layer_fields(form, errors))
                div.form-actions {
                    // The first submit button is the one Enter presses: creating, not adding rows.
                    button.primary type="submit" name="action" value="create" { "Create experiment" }
                    button type="submit" name="action" value="add_variant" formnovalidate data-add-row="variant" { "Add a variant" }
                    button type="submit" name="action" value="add_rule" formnovalidate data-add-row="rule" { "Add a targeting rule" }
                    button type="submit" name="action" value="add_pin" formnovalidate data-add-row="pin" { "Add a pinned rule" }
                    (add_guardrail_button())
                    a href="/dashboard/experiments" { "Cancel" }
                }
            }
        },
    )
}

pub fn edit_page(view: &EditView) -> Markup {
    let (e, form, errors) = (view.experiment, view.form, view.errors);
    let spec = &e.spec;
    let base = format!("/dashboard/experiments/{}", spec.key);
    let title = format!("Edit {}", spec.name);
    layout(
        &Page::signed_in(&title, view.csrf, Nav::Experiments),
        html! {
            (breadcrumb(&[("/dashboard/experiments", "Experiments"), (&base, &spec.name)]))
            h1 { "Edit " (spec.name) }
            (error_summary(errors, "The changes were not saved", field_label, anchor))
            @if let Some(m) = errors.get("form") { (notice(Tone::Bad, html! { (m) })) }
            form.experiment-form method="post" action={ (base) "/edit" } data-kind=(spec.kind.as_str()) {
                (csrf_input(view.csrf))
                fieldset.group {
                    legend { "About" }
                    (text_field(&f(errors, "name", "Name", None), &form.name, InputOptions { required: true, ..InputOptions::default() }))
                    (textarea_field(&f(errors, "description", "Description (optional)", None), &form.description, 2, false))
                }
                section.fixed aria-labelledby="fixed-heading" {
                    h2 #fixed-heading { "Fixed once created" }
                    p.hint { "These stay as they are so that results remain comparable from the first user to the last. To change them, create a new experiment." }
                    dl.facts {
                        dt { "Key" } dd { code { (spec.key) } }
                        dt { "Dimension" } dd { (spec.dimension.as_str()) }
                        dt { "Kind" } dd { (kind_words(spec)) }
                        @if e.status != Status::Draft { dt { "Goal" } dd { (goal_words(e, view.metrics)) } }
                        dt { "Control" } dd { (spec.control) }
                    }
                }
                fieldset.group #variants .has-error[errors.get("weights").is_some()] {
                    legend { "Variants" }
                    (field_error("weights", errors.get("weights")))
                    @for (i, v) in spec.variants.iter().enumerate() {
                        div.variant-row {
                            h3 { (swatch(i)) " " (v.name) " " code.muted { (v.key) } }
                            input type="hidden" name={ "variant-" (i) "-key" } value=(v.key);
                            @if spec.kind == Kind::Ab {
                                @let typed = form.variants.iter().find(|r| r.key == v.key.as_str()).map_or(String::new(), |r| r.weight.clone());
                                @let name = format!("variant-{i}-weight");
                                (text_field(&f(errors, &name, "Weight", None), &typed, percent_input()))
                            }
                            p.label-like { "Payload" }
                            pre { code { (serde_json::to_string_pretty(&v.payload).unwrap_or_default()) } }
                        }
                    }
                    @if spec.kind == Kind::Ab {
                        p.hint { "Weights must add up to 100%. New users follow the new weights; enrolled users keep their variant." }
                    }
                }
                fieldset.group {
                    legend { "Traffic and data" }
                    (text_field(&f(errors, "traffic", "Traffic",
                        Some("The share of matching users that take part.")), &form.traffic, percent_input()))
                    @if spec.policy == PolicyKind::Bandit {
                        (text_field(&f(errors, "floor", "Floor per variant",
                            Some("The least share of new users every variant keeps.")), &form.floor, percent_input()))
                    }
                    (text_field(&f(errors, "min_users_per_arm", "Minimum users per variant",
                        Some("No verdict before every variant has this many users.")),
                        &form.min_users_per_arm, InputOptions { inputmode: Some("numeric"), ..InputOptions::default() }))
                    (radio_field(&f(errors, "analysis", "What decides the verdict", None), &form.analysis, ANALYSES))
                    (text_field(&f(errors, "cuped", "CUPED lookback",
                        Some("Adjust conversion and mean metrics for each user's activity in this window before their assignment (narrower intervals, same estimate). `off` turns it off. Empty: 14d.")),
                        &form.cuped, InputOptions::default()))
                    (verdict_fields(form, errors))
                }
                @if e.status == Status::Draft {
                    fieldset.group #goal { legend { "Goal" } (draft_goal_select(e, form, errors, view.metrics)) }
                }
                (secondary_and_guardrails(form, errors, view.metrics))
                (rule_rows(form, errors))
                @let variants: Vec<(&str, &str)> = spec.variants.iter().map(|v| (v.key.as_str(), v.name.as_str())).collect();
                (pin_rows(form, errors, view.segments, Some(&variants)))
                (layer_fields(form, errors))
                div.form-actions {
                    button.primary type="submit" name="action" value="save" { "Save changes" }
                    button type="submit" name="action" value="add_rule" formnovalidate data-add-row="rule" { "Add a targeting rule" }
                    button type="submit" name="action" value="add_pin" formnovalidate data-add-row="pin" { "Add a pinned rule" }
                    (add_guardrail_button())
                    a href=(base) { "Cancel" }
                }
                p.hint { "Current traffic: " (format::percent(spec.traffic, 1)) ". Changes apply to new users within a second on every server." }
            }
        },
    )
}
