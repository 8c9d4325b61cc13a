str_enum!(
    /// What an API key may do: `client` assigns, tracks and evaluates flags; `admin` does everything.
    Scope { Client => "client", Admin => "admin" }
);

impl Scope {
    pub fn allows(self, needed: Scope) -> bool {
        self == Scope::Admin || needed == Scope::Client
    }
}
