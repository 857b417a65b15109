//! Running the shared statements (`store/queries.rs`) on a rusqlite connection: cached
//! prepared statements, `$1`, `$2`, … bound by name (SQLite reads `$1` as a parameter named
//! `$1`), rows read through [`queries::Row`], errors mapped to [`StoreError`].

use rusqlite::types::{ToSql, ToSqlOutput, ValueRef};
use rusqlite::{CachedStatement, Connection};

use crate::store::queries::{self, Param};
use crate::store::{StoreError, StoreResult};

/// The names of the parameters a statement may use, in order.
const PARAMETER_NAMES: [&str; 12] = [
    "$1", "$2", "$3", "$4", "$5", "$6", "$7", "$8", "$9", "$10", "$11", "$12",
];

impl ToSql for Param<'_> {
    fn to_sql(&self) -> rusqlite::Result<ToSqlOutput<'_>> {
        Ok(ToSqlOutput::Borrowed(match self {
            Self::Text(Some(s)) => ValueRef::Text(s.as_bytes()),
            Self::Int(Some(n)) => return Ok(ToSqlOutput::from(*n)),
            Self::Text(None) | Self::Int(None) => ValueRef::Null,
        }))
    }
}

impl queries::Row for rusqlite::Row<'_> {
    fn text(&self, column: &str) -> StoreResult<String> {
        Ok(self.get(column)?)
    }

    fn opt_text(&self, column: &str) -> StoreResult<Option<String>> {
        Ok(self.get(column)?)
    }

    fn int(&self, column: &str) -> StoreResult<i64> {
        Ok(self.get(column)?)
    }

    fn opt_int(&self, column: &str) -> StoreResult<Option<i64>> {
        Ok(self.get(column)?)
    }
}

impl From<rusqlite::Error> for StoreError {
    fn from(e: rusqlite::Error) -> Self {
        if let rusqlite::Error::SqliteFailure(failure, _) = &e
            && matches!(
                failure.extended_code,
                rusqlite::ffi::SQLITE_CONSTRAINT_UNIQUE
                    | rusqlite::ffi::SQLITE_CONSTRAINT_PRIMARYKEY
            )
        {
            return Self::Conflict;
        }
        Self::Backend(anyhow::Error::new(e))
    }
}

/// The cached statement for `sql` with `params` bound to `$1`, `$2`, …. Every parameter the
/// statement names must be given, and no more: an unbound one would silently be `NULL`.
fn prepare<'c>(
    conn: &'c Connection,
    sql: &str,
    params: &[Param<'_>],
) -> StoreResult<CachedStatement<'c>> {
    let mut stmt = conn.prepare_cached(sql)?;
    if stmt.parameter_count() != params.len() {
        return Err(anyhow::anyhow!(
            "statement takes {} parameters, {} given: {sql}",
            stmt.parameter_count(),
            params.len()
        )
        .into());
    }
    for (name, param) in PARAMETER_NAMES.iter().zip(params) {
        stmt.raw_bind_parameter(*name, param)?;
    }
    Ok(stmt)
}

/// Runs a statement that returns no rows; the number of rows it changed.
pub(super) fn execute(conn: &Connection, sql: &str, params: &[Param<'_>]) -> StoreResult<u64> {
    let changed = prepare(conn, sql, params)?.raw_execute()?;
    Ok(u64::try_from(changed).unwrap_or(u64::MAX))
}

/// Runs a statement and maps its first row, if any.
pub(super) fn query_opt<T>(
    conn: &Connection,
    sql: &str,
    params: &[Param<'_>],
    map: impl FnOnce(&rusqlite::Row<'_>) -> StoreResult<T>,
) -> StoreResult<Option<T>> {
    let mut stmt = prepare(conn, sql, params)?;
    let mut rows = stmt.raw_query();
    rows.next()?.map(map).transpose()
}

/// Runs a statement and maps every row.
pub(super) fn query_all<T>(
    conn: &Connection,
    sql: &str,
    params: &[Param<'_>],
    mut map: impl FnMut(&rusqlite::Row<'_>) -> StoreResult<T>,
) -> StoreResult<Vec<T>> {
    let mut stmt = prepare(conn, sql, params)?;
    let mut rows = stmt.raw_query();
    let mut out = Vec::new();
    while let Some(row) = rows.next()? {
        out.push(map(row)?);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::queries::params;

    fn conn() -> Connection {
        let conn = Connection::open_in_memory().unwrap();
        conn.execute_batch("CREATE TABLE t (a TEXT PRIMARY KEY, b BIGINT)")
            .unwrap();
        conn
    }

    /// `$n` is bound by name: a statement naming `$2` before `$1`, or one twice, gets the
    /// right values (binding by position would swap them).
    #[test]
    fn numbered_parameters_are_bound_by_name_in_any_order() {
        let conn = conn();
        execute(
            &conn,
            "INSERT INTO t (b, a) VALUES ($2, $1)",
            &params!["x", 7],
        )
        .unwrap();
        let row = query_opt(
            &conn,
            "SELECT a, b + $2 AS b FROM t WHERE a = $1 AND b < $2 + 1",
            &params!["x", 7],
            |r| Ok((queries::Row::text(r, "a")?, queries::Row::int(r, "b")?)),
        )
        .unwrap();
        assert_eq!(row, Some(("x".to_owned(), 14)));
    }

    /// A missing or extra parameter is an error, never a silent `NULL`.
    #[test]
    fn a_parameter_count_mismatch_is_refused() {
        let conn = conn();
        for given in [&params!["x"][..], &params!["x", 1, 2][..]] {
            assert!(execute(&conn, "INSERT INTO t (a, b) VALUES ($1, $2)", given).is_err());
        }
        assert!(
            query_all(&conn, "SELECT a FROM t", &[], |_| Ok(()))
                .unwrap()
                .is_empty()
        );
    }

    /// Unique and primary-key violations are `Conflict`; other failures are `Backend`.
    #[test]
    fn unique_violations_map_to_conflict() {
        let conn = conn();
        execute(&conn, "INSERT INTO t (a) VALUES ($1)", &params!["x"]).unwrap();
        let again = execute(&conn, "INSERT INTO t (a) VALUES ($1)", &params!["x"]);
        assert!(matches!(again, Err(StoreError::Conflict)), "{again:?}");
        let bad = execute(&conn, "INSERT INTO nowhere (a) VALUES ($1)", &params!["x"]);
        assert!(matches!(bad, Err(StoreError::Backend(_))), "{bad:?}");
    }
}
