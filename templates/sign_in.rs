//! The sign-in page: the only page an unsigned visitor sees.

use super::components::{Tone, csrf_input, notice};
use super::layout::{Page, layout};
use maud::{Markup, html};

pub struct SignInView<'a> {
    pub csrf: &'a str,
    /// Where to go once signed in.
    pub next: &'a str,
    pub notice: Option<&'a str>,
    pub error: Option<&'a str>,
}

pub fn page(view: &SignInView) -> Markup {
    layout(
        &Page::public("Sign in"),
        html! {
            div.narrow {
                h1 { "Sign in" }
                @if let Some(n) = view.notice { (notice(Tone::Good, html! { (n) })) }
                form.stack method="post" action="/dashboard/sign-in" {
                    (csrf_input(view.csrf))
                    input type="hidden" name="next" value=(view.next);
                    div.field.has-error[view.error.is_some()] {
                        label for="key" { "Admin key" }
                        p.hint #key-hint { "The key printed when the server first started, or one made with "
                            code { "posterior keys create --scope admin" } "." }
                        input #key type="password" name="key" required autocomplete="current-password"
                            autofocus aria-describedby=(if view.error.is_some() { "key-hint key-error" } else { "key-hint" })
                            aria-invalid=[view.error.is_some().then_some("true")];
                        @if let Some(e) = view.error {
                            p.field-error #key-error { span aria-hidden="true" { "⚠ " } (e) }
                        }
                    }
                    button.primary type="submit" { "Sign in" }
                }
            }
        },
    )
}
