//! Statements that stay prepared on their connection.
//!
//! Diesel never caches `sql_query` statements, so PostgreSQL would parse, analyse and plan
//! each group-commit statement anew (about an eighth of its time under load). `Prepared`
//! holds a static SQL text with `$n` placeholders and its binds; diesel's statement cache
//! keys it by that text and reuses the prepared statement on the same connection.

use diesel::pg::Pg;
use diesel::query_builder::{AstPass, Query, QueryFragment, QueryId};
use diesel::serialize::ToSql;
use diesel::sql_types::{HasSqlType, Untyped};
use diesel::{QueryResult, RunQueryDsl};
use std::marker::PhantomData;

trait BindValue {
    fn push<'b>(&'b self, pass: &mut AstPass<'_, 'b, Pg>) -> QueryResult<()>;
}

struct Bind<ST, T> {
    value: T,
    _type: PhantomData<ST>,
}

impl<ST, T> BindValue for Bind<ST, T>
where
    Pg: HasSqlType<ST>,
    T: ToSql<ST, Pg>,
{
    fn push<'b>(&'b self, pass: &mut AstPass<'_, 'b, Pg>) -> QueryResult<()> {
        pass.push_bind_param::<ST, T>(&self.value)
    }
}

/// A static statement with `$1`, `$2`, ... placeholders, bound in order with `bind`.
pub struct Prepared<'a> {
    sql: &'static str,
    binds: Vec<Box<dyn BindValue + 'a>>,
}

impl<'a> Prepared<'a> {
    pub fn new(sql: &'static str) -> Self {
        Self {
            sql,
            binds: Vec::new(),
        }
    }

    /// Binds the next placeholder (`$1` first).
    pub fn bind<ST: 'a, T: ToSql<ST, Pg> + 'a>(mut self, value: T) -> Self
    where
        Pg: HasSqlType<ST>,
    {
        self.binds.push(Box::new(Bind {
            value,
            _type: PhantomData::<ST>,
        }));
        self
    }
}

impl QueryFragment<Pg> for Prepared<'_> {
    fn walk_ast<'b>(&'b self, mut out: AstPass<'_, 'b, Pg>) -> QueryResult<()> {
        // Emit the text between placeholders; at each `$n`, push bind n (diesel renumbers the
        // placeholders in the order they are pushed, so any textual order works).
        let bytes = self.sql.as_bytes();
        let (mut start, mut i) = (0, 0);
        while i < bytes.len() {
            if bytes[i] == b'$' && bytes.get(i + 1).is_some_and(u8::is_ascii_digit) {
                let digits_end = (i + 1..bytes.len())
                    .find(|&j| !bytes[j].is_ascii_digit())
                    .unwrap_or(bytes.len());
                let n: usize = self.sql[i + 1..digits_end]
                    .parse()
                    .expect("placeholder number");
                out.push_sql(&self.sql[start..i]);
                let bind = self.binds.get(n - 1).ok_or_else(|| {
                    diesel::result::Error::QueryBuilderError(
                        format!("no value bound for ${n}").into(),
                    )
                })?;
                bind.push(&mut out)?;
                start = digits_end;
                i = digits_end;
            } else {
                i += 1;
            }
        }
        out.push_sql(&self.sql[start..]);
        Ok(())
    }
}

impl QueryId for Prepared<'_> {
    type QueryId = ();
    // Not static: diesel keys its statement cache by the SQL text and bind types instead.
    const HAS_STATIC_QUERY_ID: bool = false;
}

impl Query for Prepared<'_> {
    type SqlType = Untyped;
}

impl<Conn> RunQueryDsl<Conn> for Prepared<'_> {}
