//! PostgreSQL's SQL dialect, as applications and drivers send it, turned into statements SQLite
//! runs: a lexer that knows PostgreSQL's literals (`E'…'`, `$$…$$`, `$1`, `::`), and rewrites
//! on its tokens. What cannot be rewritten faithfully is refused with a PostgreSQL error code
//! rather than run with another meaning.

use std::fmt::Write as _;

/// A PostgreSQL error to answer: SQLSTATE and message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SqlError {
    pub code: &'static str,
    pub message: String,
}

impl SqlError {
    pub fn new(code: &'static str, message: impl Into<String>) -> Self {
        Self { code, message: message.into() }
    }

    pub fn syntax(message: impl Into<String>) -> Self {
        Self::new("42601", message)
    }

    pub fn unsupported(message: impl Into<String>) -> Self {
        Self::new("0A000", message)
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Tok {
    Space,
    /// A string literal, already in SQLite's form (`'…'` with `''`).
    Str(String),
    /// A quoted identifier, with its quotes.
    Ident(String),
    Word(String),
    Num(String),
    Param(u32),
    Op(String),
    LParen,
    RParen,
    LBracket,
    RBracket,
    Comma,
    Dot,
    Semi,
}

impl Tok {
    fn word(&self) -> Option<String> {
        match self {
            Tok::Word(w) => Some(w.to_ascii_lowercase()),
            _ => None,
        }
    }

    fn is_word(&self, w: &str) -> bool {
        matches!(self, Tok::Word(x) if x.eq_ignore_ascii_case(w))
    }

    fn text(&self) -> String {
        match self {
            Tok::Space => " ".into(),
            Tok::Str(s) | Tok::Ident(s) | Tok::Word(s) | Tok::Num(s) | Tok::Op(s) => s.clone(),
            Tok::Param(n) => format!("?{n}"),
            Tok::LParen => "(".into(),
            Tok::RParen => ")".into(),
            Tok::LBracket => "[".into(),
            Tok::RBracket => "]".into(),
            Tok::Comma => ",".into(),
            Tok::Dot => ".".into(),
            Tok::Semi => ";".into(),
        }
    }
}

fn quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', "''"))
}

const OP_CHARS: &[u8] = b"+-*/<>=~!@#%^&|`?:";

/// Splits SQL into tokens (comments dropped, whitespace folded).
pub fn lex(sql: &str) -> Result<Vec<Tok>, SqlError> {
    let b = sql.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < b.len() {
        let c = b[i];
        if c.is_ascii_whitespace() {
            while i < b.len() && b[i].is_ascii_whitespace() {
                i += 1;
            }
            if !matches!(out.last(), Some(Tok::Space) | None) {
                out.push(Tok::Space);
            }
            continue;
        }
        if c == b'-' && b.get(i + 1) == Some(&b'-') {
            while i < b.len() && b[i] != b'\n' {
                i += 1;
            }
            continue;
        }
        if c == b'/' && b.get(i + 1) == Some(&b'*') {
            let mut depth = 0;
            while i < b.len() {
                if b[i] == b'/' && b.get(i + 1) == Some(&b'*') {
                    depth += 1;
                    i += 2;
                } else if b[i] == b'*' && b.get(i + 1) == Some(&b'/') {
                    depth -= 1;
                    i += 2;
                    if depth == 0 {
                        break;
                    }
                } else {
                    i += 1;
                }
            }
            if depth != 0 {
                return Err(SqlError::syntax("unterminated /* comment"));
            }
            continue;
        }
        // E'…' strings with backslash escapes.
        if (c == b'e' || c == b'E') && b.get(i + 1) == Some(&b'\'') {
            i += 2;
            let mut s = String::new();
            loop {
                let Some(&ch) = b.get(i) else { return Err(SqlError::syntax("unterminated quoted string")) };
                match ch {
                    b'\\' => {
                        let esc = *b.get(i + 1).ok_or_else(|| SqlError::syntax("unterminated quoted string"))?;
                        s.push(match esc {
                            b'n' => '\n',
                            b't' => '\t',
                            b'r' => '\r',
                            b'b' => '\u{8}',
                            b'f' => '\u{c}',
                            other => other as char,
                        });
                        i += 2;
                    }
                    b'\'' if b.get(i + 1) == Some(&b'\'') => {
                        s.push('\'');
                        i += 2;
                    }
                    b'\'' => {
                        i += 1;
                        break;
                    }
                    _ => {
                        let start = i;
                        i += 1;
                        while i < b.len() && !matches!(b[i], b'\\' | b'\'') {
                            i += 1;
                        }
                        s.push_str(&sql[start..i]);
                    }
                }
            }
            out.push(Tok::Str(quote(&s)));
            continue;
        }
        if c == b'\'' {
            let start = i;
            i += 1;
            loop {
                match b.get(i) {
                    None => return Err(SqlError::syntax("unterminated quoted string")),
                    Some(b'\'') if b.get(i + 1) == Some(&b'\'') => i += 2,
                    Some(b'\'') => {
                        i += 1;
                        break;
                    }
                    Some(_) => i += 1,
                }
            }
            out.push(Tok::Str(sql[start..i].to_string()));
            continue;
        }
        if c == b'"' {
            let start = i;
            i += 1;
            loop {
                match b.get(i) {
                    None => return Err(SqlError::syntax("unterminated quoted identifier")),
                    Some(b'"') if b.get(i + 1) == Some(&b'"') => i += 2,
                    Some(b'"') => {
                        i += 1;
                        break;
                    }
                    Some(_) => i += 1,
                }
            }
            out.push(Tok::Ident(sql[start..i].to_string()));
            continue;
        }
        if c == b'$' {
            if b.get(i + 1).is_some_and(u8::is_ascii_digit) {
                let start = i + 1;
                i += 1;
                while i < b.len() && b[i].is_ascii_digit() {
                    i += 1;
                }
                let n = sql[start..i].parse().map_err(|_| SqlError::syntax("bad parameter number"))?;
                out.push(Tok::Param(n));
                continue;
            }
            // $tag$ … $tag$
            let mut j = i + 1;
            while j < b.len() && (b[j].is_ascii_alphanumeric() || b[j] == b'_') {
                j += 1;
            }
            if b.get(j) == Some(&b'$') {
                let tag = &sql[i..=j];
                let body_start = j + 1;
                let end =
                    sql[body_start..].find(tag).ok_or_else(|| SqlError::syntax("unterminated dollar-quoted string"))?;
                out.push(Tok::Str(quote(&sql[body_start..body_start + end])));
                i = body_start + end + tag.len();
                continue;
            }
        }
        if c.is_ascii_digit() || (c == b'.' && b.get(i + 1).is_some_and(u8::is_ascii_digit)) {
            let start = i;
            while i < b.len() && (b[i].is_ascii_digit() || b[i] == b'.') {
                i += 1;
            }
            if i < b.len() && (b[i] == b'e' || b[i] == b'E') {
                let mut j = i + 1;
                if j < b.len() && (b[j] == b'+' || b[j] == b'-') {
                    j += 1;
                }
                if j < b.len() && b[j].is_ascii_digit() {
                    i = j;
                    while i < b.len() && b[i].is_ascii_digit() {
                        i += 1;
                    }
                }
            }
            out.push(Tok::Num(sql[start..i].to_string()));
            continue;
        }
        if c.is_ascii_alphabetic() || c == b'_' || c >= 0x80 {
            let start = i;
            while i < b.len() && (b[i].is_ascii_alphanumeric() || b[i] == b'_' || b[i] == b'$' || b[i] >= 0x80) {
                i += 1;
            }
            out.push(Tok::Word(sql[start..i].to_string()));
            continue;
        }
        let single = match c {
            b'(' => Some(Tok::LParen),
            b')' => Some(Tok::RParen),
            b'[' => Some(Tok::LBracket),
            b']' => Some(Tok::RBracket),
            b',' => Some(Tok::Comma),
            b'.' => Some(Tok::Dot),
            b';' => Some(Tok::Semi),
            _ => None,
        };
        if let Some(t) = single {
            out.push(t);
            i += 1;
            continue;
        }
        if OP_CHARS.contains(&c) {
            let start = i;
            while i < b.len() && OP_CHARS.contains(&b[i]) {
                // A comment start ends an operator.
                if i > start
                    && ((b[i] == b'-' && b.get(i + 1) == Some(&b'-')) || (b[i] == b'/' && b.get(i + 1) == Some(&b'*')))
                {
                    break;
                }
                i += 1;
            }
            out.push(Tok::Op(sql[start..i].to_string()));
            continue;
        }
        return Err(SqlError::syntax(format!("syntax error at or near \"{}\"", c as char)));
    }
    while matches!(out.last(), Some(Tok::Space)) {
        out.pop();
    }
    Ok(out)
}

/// The statements of a query string (split at top-level semicolons), as token lists.
pub fn split(tokens: Vec<Tok>) -> Vec<Vec<Tok>> {
    let mut out = Vec::new();
    let mut cur = Vec::new();
    let mut depth = 0i32;
    for t in tokens {
        match t {
            Tok::LParen => depth += 1,
            Tok::RParen => depth -= 1,
            _ => {}
        }
        if t == Tok::Semi && depth <= 0 {
            trim(&mut cur);
            if !cur.is_empty() {
                out.push(std::mem::take(&mut cur));
            }
            continue;
        }
        cur.push(t);
    }
    trim(&mut cur);
    if !cur.is_empty() {
        out.push(cur);
    }
    out
}

fn trim(t: &mut Vec<Tok>) {
    while matches!(t.last(), Some(Tok::Space)) {
        t.pop();
    }
    while matches!(t.first(), Some(Tok::Space)) {
        t.remove(0);
    }
}

/// The PostgreSQL types squall stores and reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PgType {
    Bool,
    Int2,
    Int4,
    Int8,
    Float4,
    Float8,
    Numeric,
    Text,
    Varchar,
    Bpchar,
    Bytea,
    Date,
    Time,
    Timestamp,
    Timestamptz,
    Uuid,
    Json,
    Jsonb,
    Name,
    Oid,
}

impl PgType {
    /// The type a declared column type (or a cast's type) names, `None` when unknown.
    pub fn from_name(name: &str) -> Option<PgType> {
        let n = name.trim().to_ascii_lowercase();
        let n = n.strip_prefix("pg_catalog.").unwrap_or(&n);
        let base = n.split('(').next().unwrap_or("").trim();
        Some(match base {
            "bool" | "boolean" => PgType::Bool,
            "int2" | "smallint" | "smallserial" | "serial2" => PgType::Int2,
            "int" | "int4" | "integer" | "serial" | "serial4" | "mediumint" => PgType::Int4,
            "int8" | "bigint" | "bigserial" | "serial8" => PgType::Int8,
            "real" | "float4" => PgType::Float4,
            "float" | "float8" | "double precision" | "double" => PgType::Float8,
            "numeric" | "decimal" | "money" => PgType::Numeric,
            "text" | "citext" | "clob" => PgType::Text,
            "varchar" | "character varying" | "nvarchar" => PgType::Varchar,
            "char" | "character" | "bpchar" | "nchar" => PgType::Bpchar,
            "bytea" | "blob" => PgType::Bytea,
            "date" => PgType::Date,
            "time" | "time without time zone" | "timetz" | "time with time zone" => PgType::Time,
            "timestamp" | "timestamp without time zone" | "datetime" => PgType::Timestamp,
            "timestamptz" | "timestamp with time zone" => PgType::Timestamptz,
            "uuid" => PgType::Uuid,
            "json" => PgType::Json,
            "jsonb" => PgType::Jsonb,
            "name" => PgType::Name,
            "oid" | "regclass" | "regtype" | "regproc" => PgType::Oid,
            _ => return None,
        })
    }

    /// SQLite's storage class for a cast to this type, or `None` to keep the value as it is.
    fn sqlite_cast(self) -> Option<&'static str> {
        match self {
            PgType::Int2 | PgType::Int4 | PgType::Int8 | PgType::Oid => Some("INTEGER"),
            PgType::Float4 | PgType::Float8 => Some("REAL"),
            PgType::Numeric => Some("NUMERIC"),
            PgType::Text | PgType::Varchar | PgType::Bpchar | PgType::Name => Some("TEXT"),
            _ => None,
        }
    }
}

/// What kind of statement a query is: how the session runs it and what its command tag says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Kind {
    Begin,
    Commit,
    Rollback,
    /// SAVEPOINT, RELEASE, ROLLBACK TO: SQLite runs them as they are.
    Savepoint,
    /// `SET name = value` (or `SET SESSION …`, `SET LOCAL …`).
    Set {
        name: String,
        value: String,
    },
    Show(String),
    /// RESET, DISCARD, LISTEN, UNLISTEN, DEALLOCATE: nothing to do here; answered with its tag.
    Noop(String),
    /// COPY table [(cols)] FROM STDIN / TO STDOUT.
    Copy(CopySpec),
    /// Anything SQLite runs: the tag's command word(s).
    Run(String),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CopySpec {
    pub table: String,
    pub columns: Vec<String>,
    pub from_stdin: bool,
    pub csv: bool,
    pub delimiter: char,
    pub header: bool,
    /// A query to copy out, instead of a table.
    pub query: Option<String>,
}

/// One statement of the client, ready for SQLite.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Statement {
    pub kind: Kind,
    /// The SQLite statements to run, in order (a PostgreSQL statement may need several:
    /// `DROP TABLE a, b`). Empty for session commands.
    pub sqlite: Vec<String>,
    /// Types named by casts on parameters (`$1::int4`), by parameter number.
    pub param_types: Vec<(u32, PgType)>,
    /// The highest parameter number used.
    pub params: u32,
}

/// Fragments of psql's catalog queries that have no SQLite form, and what stands for them
/// (SQLite has no arrays: relation options are never set here).
const PSQL_FRAGMENTS: &[(&str, &str)] = &[
    ("c.reloptions || array(select 'toast.' || x from pg_catalog.unnest(tc.reloptions) x)", "c.reloptions"),
    (
        "pg_catalog.array_to_string(array(select rolname from pg_catalog.pg_roles where oid = any (pol.polroles) order by 1),',')",
        "NULL",
    ),
];

/// Marks, in a stored table definition, an INTEGER column that PostgreSQL declared bigint.
pub const INT8_MARK: &str = "/*pg:int8*/";
/// … and one declared smallint.
pub const INT2_MARK: &str = "/*pg:int2*/";

/// Translates a query string into its statements.
pub fn translate(sql: &str) -> Result<Vec<Statement>, SqlError> {
    let mut owned = None;
    for (from, to) in PSQL_FRAGMENTS {
        if sql.contains(from) {
            owned = Some(owned.as_deref().unwrap_or(sql).replace(from, to));
        }
    }
    split(lex(owned.as_deref().unwrap_or(sql))?).into_iter().map(statement).collect()
}

fn words(t: &[Tok]) -> Vec<String> {
    t.iter().filter_map(Tok::word).collect()
}

fn render(t: &[Tok]) -> String {
    let mut s = String::new();
    let mut last_space = true;
    for tok in t {
        if *tok == Tok::Space {
            if last_space {
                continue;
            }
            last_space = true;
        } else {
            last_space = false;
        }
        let _ = write!(s, "{}", tok.text());
    }
    s.truncate(s.trim_end().len());
    s
}

/// The index of the token closing the parenthesis opened at `open`.
fn matching(t: &[Tok], open: usize) -> Option<usize> {
    let mut depth = 0;
    for (i, tok) in t.iter().enumerate().skip(open) {
        match tok {
            Tok::LParen => depth += 1,
            Tok::RParen => {
                depth -= 1;
                if depth == 0 {
                    return Some(i);
                }
            }
            _ => {}
        }
    }
    None
}

fn next_non_space(t: &[Tok], from: usize) -> Option<usize> {
    (from..t.len()).find(|&i| t[i] != Tok::Space)
}

fn prev_non_space(t: &[Tok], before: usize) -> Option<usize> {
    (0..before).rev().find(|&i| t[i] != Tok::Space)
}

fn statement(t: Vec<Tok>) -> Result<Statement, SqlError> {
    let w = words(&t);
    let first = w.first().cloned().unwrap_or_default();
    let second = w.get(1).cloned().unwrap_or_default();
    let session = |kind: Kind| Ok(Statement { kind, sqlite: Vec::new(), param_types: Vec::new(), params: 0 });
    match first.as_str() {
        "begin" | "start" => {
            return Ok(Statement {
                kind: Kind::Begin,
                sqlite: vec!["BEGIN".into()],
                param_types: Vec::new(),
                params: 0,
            })
        }
        "commit" | "end" => return session(Kind::Commit),
        "abort" => return session(Kind::Rollback),
        "rollback" if w.iter().any(|x| x == "to") => {
            let name = w.last().cloned().unwrap_or_default();
            return Ok(Statement {
                kind: Kind::Savepoint,
                sqlite: vec![format!("ROLLBACK TO SAVEPOINT {name}")],
                param_types: Vec::new(),
                params: 0,
            });
        }
        "rollback" => return session(Kind::Rollback),
        "savepoint" | "release" => {
            return Ok(Statement {
                kind: Kind::Savepoint,
                sqlite: vec![render(&t)],
                param_types: Vec::new(),
                params: 0,
            })
        }
        "set" => return set(&t),
        "show" => {
            let name = w[1..].join(" ");
            return session(Kind::Show(if name.is_empty() { "all".into() } else { name }));
        }
        "reset" | "discard" | "listen" | "unlisten" | "notify" | "deallocate" | "checkpoint" | "lock" => {
            let tag = match first.as_str() {
                "discard" => format!("DISCARD {}", second.to_ascii_uppercase()),
                "lock" => "LOCK TABLE".to_string(),
                other => other.to_ascii_uppercase(),
            };
            return session(Kind::Noop(tag));
        }
        "copy" => return copy(&t),
        "vacuum" | "analyze" => {
            return Ok(Statement {
                kind: Kind::Run(first.to_ascii_uppercase()),
                sqlite: vec!["ANALYZE".into()],
                param_types: Vec::new(),
                params: 0,
            })
        }
        "truncate" => return truncate(&t),
        "drop" if second == "table" || second == "index" || second == "view" => return drop(&t, &second),
        "alter" if second == "table" => {
            if let Some(s) = alter_add_primary_key(&t)? {
                return Ok(s);
            }
        }
        "prepare" | "execute" => {
            return Err(SqlError::unsupported(format!(
                "{} statements are not supported by squall's SQL endpoint; use the extended query protocol",
                first.to_ascii_uppercase()
            )))
        }
        "grant" | "revoke" | "comment" => {
            // Privileges and comments have no meaning in one-user SQLite: accepted and ignored.
            return session(Kind::Noop(first.to_ascii_uppercase()));
        }
        "create"
            if w.iter().take(4).any(|x| {
                x == "function"
                    || x == "trigger"
                    || x == "extension"
                    || x == "schema"
                    || x == "sequence"
                    || x == "type"
                    || x == "role"
                    || x == "user"
                    || x == "database"
            }) =>
        {
            let what = w
                .iter()
                .take(4)
                .find(|x| {
                    ["function", "trigger", "extension", "schema", "sequence", "type", "role", "user", "database"]
                        .contains(&x.as_str())
                })
                .cloned()
                .unwrap_or_default();
            if what == "extension" || what == "schema" {
                // CREATE EXTENSION IF NOT EXISTS / CREATE SCHEMA: one schema, built-in functions.
                return session(Kind::Noop(format!("CREATE {}", what.to_ascii_uppercase())));
            }
            return Err(SqlError::unsupported(format!(
                "CREATE {} is not supported by squall's SQL endpoint (PostgreSQL protocol over SQLite)",
                what.to_ascii_uppercase()
            )));
        }
        _ => {}
    }
    let tag = match first.as_str() {
        "select" | "values" | "table" | "with" => "SELECT".to_string(),
        "insert" => "INSERT".to_string(),
        "update" => "UPDATE".to_string(),
        "delete" => "DELETE".to_string(),
        "create" | "drop" | "alter" => {
            let object = w
                .iter()
                .skip(1)
                .find(|x| !matches!(x.as_str(), "unique" | "temporary" | "temp" | "unlogged" | "or" | "replace"))
                .cloned()
                .unwrap_or_default();
            format!("{} {}", first.to_ascii_uppercase(), object.to_ascii_uppercase())
        }
        other => other.to_ascii_uppercase(),
    };
    let mut param_types = Vec::new();
    // Counted before the rewrites, some of which fold parameters into text.
    let params = max_param(&t);
    let body = rewrite(t, &mut param_types)?;
    Ok(Statement { kind: Kind::Run(tag), sqlite: vec![render(&body)], param_types, params })
}

fn max_param(t: &[Tok]) -> u32 {
    t.iter().filter_map(|x| if let Tok::Param(n) = x { Some(*n) } else { None }).max().unwrap_or(0)
}

fn set(t: &[Tok]) -> Result<Statement, SqlError> {
    // SET [SESSION | LOCAL] name { TO | = } value  |  SET TIME ZONE value
    let mut rest: Vec<&Tok> = t.iter().skip(1).filter(|x| **x != Tok::Space).collect();
    if rest.first().is_some_and(|x| x.is_word("session") || x.is_word("local")) {
        rest.remove(0);
    }
    if rest.first().is_some_and(|x| x.is_word("transaction") || x.is_word("characteristics")) {
        return Ok(Statement {
            kind: Kind::Noop("SET".into()),
            sqlite: Vec::new(),
            param_types: Vec::new(),
            params: 0,
        });
    }
    let (name, value_from) = if rest.len() >= 2 && rest[0].is_word("time") && rest[1].is_word("zone") {
        ("timezone".to_string(), 2)
    } else {
        let mut name = String::new();
        let mut k = 0;
        while k < rest.len() {
            match rest[k] {
                Tok::Word(w) => name.push_str(&w.to_ascii_lowercase()),
                Tok::Ident(w) => name.push_str(w.trim_matches('"')),
                Tok::Dot => name.push('.'),
                _ => break,
            }
            k += 1;
            if k < rest.len() && !matches!(rest[k], Tok::Dot) && !matches!(rest[k - 1], Tok::Dot) {
                break;
            }
        }
        if k < rest.len() && (rest[k].is_word("to") || matches!(rest[k], Tok::Op(o) if o == "=")) {
            k += 1;
        }
        (name, k)
    };
    if name.is_empty() {
        return Err(SqlError::syntax("syntax error at or near \"SET\""));
    }
    let value = rest[value_from.min(rest.len())..]
        .iter()
        .map(|x| match x {
            Tok::Str(s) => s[1..s.len() - 1].replace("''", "'"),
            Tok::Ident(s) => s.trim_matches('"').to_string(),
            other => other.text(),
        })
        .collect::<Vec<_>>()
        .join("");
    Ok(Statement { kind: Kind::Set { name, value }, sqlite: Vec::new(), param_types: Vec::new(), params: 0 })
}

fn name_text(t: &Tok) -> Option<String> {
    match t {
        Tok::Word(w) => Some(w.to_ascii_lowercase()),
        Tok::Ident(i) => Some(i.clone()),
        _ => None,
    }
}

/// Qualified names separated by commas, from `from` to the end or a word in `stop`.
fn name_list(t: &[Tok], from: usize, stop: &[&str]) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    let mut cur = String::new();
    for tok in &t[from..] {
        match tok {
            Tok::Word(w) if stop.contains(&w.to_ascii_lowercase().as_str()) => break,
            Tok::Comma => out.push(std::mem::take(&mut cur)),
            Tok::Dot => cur.clear(), // schema.table: the schema is dropped (one schema)
            Tok::Space => {}
            other => {
                if let Some(n) = name_text(other) {
                    cur = n;
                }
            }
        }
    }
    if !cur.is_empty() {
        out.push(cur);
    }
    out.retain(|n| !n.is_empty());
    out
}

fn truncate(t: &[Tok]) -> Result<Statement, SqlError> {
    let mut from = 1;
    if t.iter().skip(1).find(|x| **x != Tok::Space).is_some_and(|x| x.is_word("table")) {
        from = t.iter().position(|x| x.is_word("table")).map_or(1, |p| p + 1);
    }
    let tables = name_list(t, from, &["restart", "continue", "cascade", "restrict", "only"]);
    if tables.is_empty() {
        return Err(SqlError::syntax("TRUNCATE needs a table"));
    }
    Ok(Statement {
        kind: Kind::Run("TRUNCATE TABLE".into()),
        sqlite: tables.iter().map(|n| format!("DELETE FROM {n}")).collect(),
        param_types: Vec::new(),
        params: 0,
    })
}

fn drop(t: &[Tok], object: &str) -> Result<Statement, SqlError> {
    let at = t.iter().position(|x| x.is_word(object)).map_or(1, |p| p + 1);
    let mut from = at;
    let if_exists = t.iter().any(|x| x.is_word("exists"));
    if if_exists {
        from = t.iter().position(|x| x.is_word("exists")).map_or(at, |p| p + 1);
    }
    let names = name_list(t, from, &["cascade", "restrict"]);
    let kw = object.to_ascii_uppercase();
    let guard = if if_exists { " IF EXISTS" } else { "" };
    Ok(Statement {
        kind: Kind::Run(format!("DROP {kw}")),
        sqlite: names.iter().map(|n| format!("DROP {kw}{guard} {n}")).collect(),
        param_types: Vec::new(),
        params: 0,
    })
}

/// `ALTER TABLE t ADD [CONSTRAINT n] PRIMARY KEY (cols)`: SQLite cannot add a key to a table, so
/// a unique index stands for it (the uniqueness PostgreSQL enforces).
fn alter_add_primary_key(t: &[Tok]) -> Result<Option<Statement>, SqlError> {
    let w = words(t);
    let Some(pk) = w.iter().position(|x| x == "primary") else { return Ok(None) };
    if w.get(pk + 1).map(String::as_str) != Some("key") || !w.iter().any(|x| x == "add") {
        return Ok(None);
    }
    let table = name_list(t, t.iter().position(|x| x.is_word("table")).map_or(2, |p| p + 1), &["add", "only"])
        .into_iter()
        .next()
        .ok_or_else(|| SqlError::syntax("ALTER TABLE needs a table"))?;
    let open = t.iter().position(|x| *x == Tok::LParen).ok_or_else(|| SqlError::syntax("PRIMARY KEY needs columns"))?;
    let close = matching(t, open).ok_or_else(|| SqlError::syntax("unbalanced parentheses"))?;
    let cols = render(&t[open..=close]);
    let bare = table.trim_matches('"');
    Ok(Some(Statement {
        kind: Kind::Run("ALTER TABLE".into()),
        sqlite: vec![format!("CREATE UNIQUE INDEX \"{bare}_pkey\" ON {table} {cols}")],
        param_types: Vec::new(),
        params: 0,
    }))
}

fn copy(t: &[Tok]) -> Result<Statement, SqlError> {
    let mut spec = CopySpec {
        table: String::new(),
        columns: Vec::new(),
        from_stdin: false,
        csv: false,
        delimiter: '\t',
        header: false,
        query: None,
    };
    let mut i = next_non_space(t, 1).ok_or_else(|| SqlError::syntax("COPY needs a table"))?;
    if t[i] == Tok::LParen {
        let close = matching(t, i).ok_or_else(|| SqlError::syntax("unbalanced parentheses"))?;
        spec.query = Some(render(&t[i + 1..close]));
        i = close + 1;
    } else {
        let mut name = String::new();
        while i < t.len() {
            match &t[i] {
                Tok::Dot => name.clear(),
                // FROM/TO (or any word after the name) ends the table's name.
                Tok::Word(x) if !name.is_empty() || x.eq_ignore_ascii_case("from") || x.eq_ignore_ascii_case("to") => {
                    break
                }
                other => {
                    if let Some(n) = name_text(other) {
                        name = n;
                    } else if *other != Tok::Space {
                        break;
                    }
                }
            }
            i += 1;
            if !name.is_empty() && !matches!(t.get(i), Some(Tok::Dot)) {
                break;
            }
        }
        spec.table = name;
        if let Some(open) = next_non_space(t, i).filter(|&k| t[k] == Tok::LParen) {
            let close = matching(t, open).ok_or_else(|| SqlError::syntax("unbalanced parentheses"))?;
            spec.columns = name_list(&t[..close], open + 1, &[]);
            i = close + 1;
        }
    }
    let rest = words(&t[i.min(t.len())..]);
    spec.from_stdin = match (rest.first().map(String::as_str), rest.get(1).map(String::as_str)) {
        (Some("from"), Some("stdin")) => true,
        (Some("to"), Some("stdout")) => false,
        _ => {
            return Err(SqlError::unsupported(
                "COPY to or from a file is not supported by squall's SQL endpoint: use FROM STDIN or TO STDOUT",
            ))
        }
    };
    // Options: WITH (FORMAT csv, HEADER, DELIMITER ',') or the old WITH CSV HEADER.
    let opts: Vec<&Tok> = t[i..].iter().filter(|x| **x != Tok::Space).collect();
    for (k, tok) in opts.iter().enumerate() {
        if tok.is_word("csv") {
            spec.csv = true;
            spec.delimiter = ',';
        }
        if tok.is_word("header") && !opts.get(k + 1).is_some_and(|n| n.is_word("false") || n.is_word("off")) {
            spec.header = true;
        }
        if tok.is_word("delimiter") {
            if let Some(Tok::Str(s)) = opts.get(k + 1) {
                spec.delimiter = s[1..s.len() - 1].replace("''", "'").chars().next().unwrap_or('\t');
            }
        }
    }
    if spec.csv && opts.iter().any(|x| x.is_word("text")) {
        spec.csv = false;
    }
    if spec.query.is_none() && spec.table.is_empty() {
        return Err(SqlError::syntax("COPY needs a table"));
    }
    Ok(Statement { kind: Kind::Copy(spec), sqlite: Vec::new(), param_types: Vec::new(), params: 0 })
}

/// Multi-word type names, longest first.
const MULTI_WORD_TYPES: &[&[&str]] = &[
    &["timestamp", "with", "time", "zone"],
    &["timestamp", "without", "time", "zone"],
    &["time", "with", "time", "zone"],
    &["time", "without", "time", "zone"],
    &["double", "precision"],
    &["character", "varying"],
    &["bit", "varying"],
];

/// The extent of a type name starting at `at` (words, `schema.`, `(n, m)`, `[]`), and its name.
fn type_at(t: &[Tok], at: usize) -> Option<(usize, String)> {
    let mut i = at;
    let mut name = String::new();
    if t.get(i)?.word().as_deref() == Some("pg_catalog") && t.get(i + 1) == Some(&Tok::Dot) {
        i += 2;
    }
    let first = t.get(i)?.word().or_else(|| {
        if let Tok::Ident(s) = t.get(i)? {
            Some(s.trim_matches('"').to_string())
        } else {
            None
        }
    })?;
    'multi: for m in MULTI_WORD_TYPES {
        if m[0] != first {
            continue;
        }
        let mut j = i;
        for (n, part) in m.iter().enumerate() {
            if n > 0 {
                if t.get(j) != Some(&Tok::Space) {
                    continue 'multi;
                }
                j += 1;
            }
            if t.get(j).and_then(Tok::word).as_deref() != Some(part) {
                continue 'multi;
            }
            j += 1;
        }
        name = m.join(" ");
        i = j;
        break;
    }
    if name.is_empty() {
        name = first;
        i += 1;
    }
    // (precision, scale)
    let mut j = i;
    if t.get(j) == Some(&Tok::Space) {
        j += 1;
    }
    if t.get(j) == Some(&Tok::LParen) {
        if let Some(close) = matching(t, j) {
            if t[j + 1..close].iter().all(|x| matches!(x, Tok::Num(_) | Tok::Comma | Tok::Space)) {
                i = close + 1;
            }
        }
    }
    while t.get(i) == Some(&Tok::LBracket) && t.get(i + 1) == Some(&Tok::RBracket) {
        i += 2;
    }
    Some((i, name))
}

/// Where the operand of a cast ending just before `end` starts.
fn operand_start(t: &[Tok], end: usize) -> Option<usize> {
    let last = prev_non_space(t, end)?;
    if last + 1 != end {
        return None;
    }
    match &t[last] {
        Tok::RParen => {
            // Find the matching open parenthesis, then a function name before it.
            let mut depth = 0;
            let mut k = last;
            loop {
                match t[k] {
                    Tok::RParen => depth += 1,
                    Tok::LParen => {
                        depth -= 1;
                        if depth == 0 {
                            break;
                        }
                    }
                    _ => {}
                }
                if k == 0 {
                    return None;
                }
                k -= 1;
            }
            if k > 0 && matches!(t[k - 1], Tok::Word(_)) && !is_keyword(&t[k - 1]) {
                k -= 1;
            }
            Some(k)
        }
        Tok::Str(_) | Tok::Num(_) | Tok::Param(_) | Tok::Word(_) | Tok::Ident(_) => {
            let mut k = last;
            while k >= 2 && t[k - 1] == Tok::Dot && matches!(t[k - 2], Tok::Word(_) | Tok::Ident(_)) {
                k -= 2;
            }
            Some(k)
        }
        _ => None,
    }
}

fn is_keyword(t: &Tok) -> bool {
    t.word().is_some_and(|w| {
        matches!(
            w.as_str(),
            "select"
                | "where"
                | "and"
                | "or"
                | "not"
                | "in"
                | "from"
                | "values"
                | "on"
                | "using"
                | "as"
                | "by"
                | "then"
                | "else"
                | "when"
                | "case"
                | "exists"
                | "any"
                | "all"
                | "set"
                | "returning"
                | "is"
                | "like"
        )
    })
}

/// The rewrites of one statement's tokens.
fn rewrite(mut t: Vec<Tok>, param_types: &mut Vec<(u32, PgType)>) -> Result<Vec<Tok>, SqlError> {
    let ddl = t.first().is_some_and(|x| x.is_word("create") || x.is_word("alter"));
    // One schema: `pg_catalog.` and `public.` qualifiers go first, so that the rewrites below
    // see `OPERATOR(~)` and `COLLATE default`.
    let mut k = 0;
    while k + 1 < t.len() {
        if (t[k].is_word("pg_catalog") || t[k].is_word("public"))
            && t[k + 1] == Tok::Dot
            && (k == 0 || t[k - 1] != Tok::Dot)
        {
            t.drain(k..k + 2);
        } else {
            k += 1;
        }
    }
    let mut i = 0;
    while i < t.len() {
        // expr::type
        if matches!(&t[i], Tok::Op(o) if o == "::") {
            let (end, name) = type_at(&t, i + 1).ok_or_else(|| SqlError::syntax("a type name must follow ::"))?;
            let ty = PgType::from_name(&name);
            let start = operand_start(&t, i).ok_or_else(|| SqlError::syntax("syntax error at or near \"::\""))?;
            if let (Some(ty), Some(Tok::Param(n))) = (ty, t.get(start)) {
                if start + 1 == i {
                    param_types.push((*n, ty));
                }
            }
            let operand: Vec<Tok> = t[start..i].to_vec();
            let replacement: Vec<Tok> = match ty.and_then(PgType::sqlite_cast) {
                Some(affinity) => {
                    let mut r = vec![Tok::Word("CAST".into()), Tok::LParen];
                    r.extend(operand);
                    r.extend([Tok::Space, Tok::Word("AS".into()), Tok::Space, Tok::Word(affinity.into()), Tok::RParen]);
                    r
                }
                None if ty == Some(PgType::Bool) => match operand.as_slice() {
                    [Tok::Str(s)] => {
                        let v = s.trim_matches('\'').to_ascii_lowercase();
                        let truth = matches!(v.as_str(), "t" | "true" | "y" | "yes" | "on" | "1");
                        vec![Tok::Num(if truth { "1" } else { "0" }.into())]
                    }
                    _ => operand,
                },
                None => operand,
            };
            let n = replacement.len();
            t.splice(start..end, replacement);
            i = start + n;
            continue;
        }
        match t[i].word().as_deref() {
            Some("ilike") => t[i] = Tok::Word("LIKE".into()),
            // information_schema.tables → the view information_schema_tables.
            Some("information_schema") if t.get(i + 1) == Some(&Tok::Dot) => {
                if let Some(Tok::Word(view)) = t.get(i + 2).cloned() {
                    t.splice(i..i + 3, [Tok::Word(format!("information_schema_{}", view.to_ascii_lowercase()))]);
                }
            }
            // OPERATOR(pg_catalog.~) (the schema already dropped): a regular expression match.
            Some("operator")
                if t.get(i + 1) == Some(&Tok::LParen)
                    && matches!(t.get(i + 2), Some(Tok::Op(_)))
                    && t.get(i + 3) == Some(&Tok::RParen) =>
            {
                let op = t[i + 2].text();
                t.splice(i..i + 4, [Tok::Op(op)]);
                continue;
            }
            // COLLATE default / COLLATE "C": SQLite's own collation is the same byte order.
            Some("collate") => {
                if let Some(k) = next_non_space(&t, i + 1) {
                    let name = match &t[k] {
                        Tok::Word(w) => w.to_ascii_lowercase(),
                        Tok::Ident(q) => q.trim_matches('"').to_ascii_lowercase(),
                        _ => String::new(),
                    };
                    if matches!(name.as_str(), "default" | "c" | "posix") {
                        t.drain(i..=k);
                        continue;
                    }
                }
            }
            // x = ANY (ARRAY[a, b]) → x IN (a, b); x <> ALL (ARRAY[…]) → x NOT IN (…).
            Some(quantifier @ ("any" | "all")) => {
                let open = next_non_space(&t, i + 1).filter(|&k| t[k] == Tok::LParen);
                let array = open.and_then(|o| next_non_space(&t, o + 1)).filter(|&k| t[k].is_word("array"));
                let bracket = array.and_then(|a| next_non_space(&t, a + 1)).filter(|&k| t[k] == Tok::LBracket);
                let op = prev_non_space(&t, i);
                if let (Some(open), Some(bracket), Some(op)) = (open, bracket, op) {
                    let close_bracket = (bracket..t.len()).find(|&k| t[k] == Tok::RBracket);
                    let close = matching(&t, open);
                    let op_text = t[op].text();
                    let replacement = match (quantifier, op_text.as_str()) {
                        ("any", "=") => Some("IN"),
                        ("all", "<>" | "!=") => Some("NOT IN"),
                        _ => None,
                    };
                    if let (Some(cb), Some(close), Some(word)) = (close_bracket, close, replacement) {
                        let mut inner = vec![Tok::LParen];
                        inner.extend(t[bracket + 1..cb].iter().cloned());
                        inner.push(Tok::RParen);
                        t.splice(i..=close, inner);
                        t[op] = Tok::Word(word.into());
                        continue;
                    }
                }
            }
            Some(w @ ("current_user" | "session_user" | "current_catalog" | "current_schema" | "current_role"))
                if t.get(i + 1) != Some(&Tok::LParen) && !(i > 0 && t[i - 1] == Tok::Dot) =>
            {
                let f = if w == "current_catalog" { "current_database" } else { w };
                let f = if f == "session_user" || f == "current_role" { "current_user" } else { f };
                t.splice(i..=i, [Tok::Word(f.into()), Tok::LParen, Tok::RParen]);
            }
            // SELECT … FOR UPDATE / FOR SHARE [OF t] [NOWAIT | SKIP LOCKED]: one writer at a time
            // already holds every row.
            Some("for")
                if next_non_space(&t, i + 1)
                    .and_then(|k| t[k].word())
                    .is_some_and(|w| w == "update" || w == "share" || w == "no" || w == "key") =>
            {
                let mut end = i + 1;
                while end < t.len()
                    && (t[end] == Tok::Space
                        || t[end].word().is_some_and(|w| {
                            matches!(
                                w.as_str(),
                                "update" | "share" | "no" | "key" | "nowait" | "skip" | "locked" | "of"
                            )
                        })
                        || (end > 0 && t[end - 1].is_word("of") && matches!(t[end], Tok::Word(_))))
                {
                    end += 1;
                }
                t.drain(i..end);
                continue;
            }
            Some("limit") if next_non_space(&t, i + 1).is_some_and(|k| t[k].is_word("all")) => {
                let k = next_non_space(&t, i + 1).unwrap_or(i);
                t.drain(i..=k);
                continue;
            }
            Some("generate_series") if t.get(i + 1) == Some(&Tok::LParen) => {
                // FROM generate_series(a, b) [AS] x: PostgreSQL names the column after the alias.
                if let Some(close) = matching(&t, i + 1) {
                    let mut k = next_non_space(&t, close + 1);
                    if k.is_some_and(|k| t[k].is_word("as")) {
                        k = k.and_then(|k| next_non_space(&t, k + 1));
                    }
                    if let Some(k) = k.filter(|&k| {
                        matches!(t[k], Tok::Word(_))
                            && !is_keyword(&t[k])
                            && !t[k].is_word("limit")
                            && !t[k].is_word("order")
                            && !t[k].is_word("group")
                            && !t[k].is_word("join")
                            && !t[k].is_word("cross")
                    }) {
                        let alias = t[k].text();
                        // The call's arguments get the rewrites too, before they become text.
                        let mut call_tokens = vec![t[i].clone()];
                        call_tokens.extend(rewrite(t[i + 1..=close].to_vec(), param_types)?);
                        let call = render(&call_tokens);
                        let sub = format!("(SELECT value AS {alias} FROM {call}) AS {alias}");
                        t.splice(i..=k, [Tok::Word(sub)]);
                    }
                }
            }
            _ => {}
        }
        // (VALUES …) AS name(a, b): SQLite names a VALUES list's columns column1, column2, …
        if t[i] == Tok::LParen && next_non_space(&t, i + 1).is_some_and(|k| t[k].is_word("values")) {
            if let Some(close) = matching(&t, i) {
                let mut k = next_non_space(&t, close + 1);
                if k.is_some_and(|k| t[k].is_word("as")) {
                    k = k.and_then(|k| next_non_space(&t, k + 1));
                }
                let alias = k.filter(|&k| matches!(t[k], Tok::Word(_) | Tok::Ident(_)) && !is_keyword(&t[k]));
                let cols_open = alias.filter(|&a| t.get(a + 1) == Some(&Tok::LParen));
                if let (Some(alias), Some(open)) = (alias, cols_open) {
                    if let Some(cols_close) = matching(&t, open) {
                        let names = name_list(&t[..cols_close], open + 1, &[]);
                        let inner = rewrite(t[i..=close].to_vec(), param_types)?;
                        let select: Vec<String> =
                            names.iter().enumerate().map(|(n, c)| format!("column{} AS {c}", n + 1)).collect();
                        let sub =
                            format!("(SELECT {} FROM {}) AS {}", select.join(", "), render(&inner), t[alias].text());
                        t.splice(i..=cols_close, [Tok::Word(sub)]);
                        i += 1;
                        continue;
                    }
                }
            }
        }
        // x[i]: SQLite has no arrays, so no value is one; a subscript is NULL, as PostgreSQL's
        // is out of range.
        if t[i] == Tok::LBracket && i > 0 && !t[i - 1].is_word("array") {
            let mut depth = 0;
            let close = (i..t.len()).find(|&k| {
                match t[k] {
                    Tok::LBracket => depth += 1,
                    Tok::RBracket => depth -= 1,
                    _ => {}
                }
                depth == 0
            });
            if let (Some(close), Some(start)) = (close, operand_start(&t, i)) {
                let mut call = vec![Tok::Word("squall_subscript".into()), Tok::LParen];
                call.extend(t[start..i].iter().cloned());
                call.push(Tok::Comma);
                call.extend(t[i + 1..close].iter().cloned());
                call.push(Tok::RParen);
                let n = call.len();
                t.splice(start..=close, call);
                i = start + n;
                continue;
            }
        }
        // pg_get_indexdef(oid, …): the definition from SQLite's schema (a function cannot read it).
        if t[i].is_word("pg_get_indexdef") && t.get(i + 1) == Some(&Tok::LParen) {
            if let Some(close) = matching(&t, i + 1) {
                let mut depth = 0;
                let first_end = (i + 2..close)
                    .find(|&k| {
                        match t[k] {
                            Tok::LParen => depth += 1,
                            Tok::RParen => depth -= 1,
                            _ => {}
                        }
                        depth == 0 && t[k] == Tok::Comma
                    })
                    .unwrap_or(close);
                let arg = render(&t[i + 2..first_end]);
                let sub = format!("(SELECT def FROM squall_indexdefs WHERE oid = ({arg}))");
                t.splice(i..=close, [Tok::Word(sub)]);
                i += 1;
                continue;
            }
        }
        if t[i].is_word("string_agg") && t.get(i + 1) == Some(&Tok::LParen) {
            t[i] = Tok::Word("group_concat".into());
        }
        if let Tok::Op(o) = &t[i] {
            match o.as_str() {
                "~~" => t[i] = Tok::Word("LIKE".into()),
                "~~*" => t[i] = Tok::Word("LIKE".into()),
                "!~~" | "!~~*" => t[i] = Tok::Word("NOT LIKE".into()),
                "~" => t[i] = Tok::Word("REGEXP".into()),
                "!~" => t[i] = Tok::Word("NOT REGEXP".into()),
                _ => {}
            }
        }
        if ddl {
            if let Some(skip) = ddl_rewrite(&mut t, i)? {
                i = skip;
                continue;
            }
        }
        i += 1;
    }
    Ok(t)
}

/// Rewrites of table definitions at `i`; answers where to go on when it changed something.
fn ddl_rewrite(t: &mut Vec<Tok>, i: usize) -> Result<Option<usize>, SqlError> {
    let Some(w) = t[i].word() else { return Ok(None) };
    match w.as_str() {
        // INTEGER makes the column SQLite's rowid (numbered on insert); a comment, kept in the
        // stored schema, remembers PostgreSQL's width for the types clients are told.
        "serial" | "serial4" => {
            t[i] = Tok::Word("INTEGER".into());
            Ok(Some(i + 1))
        }
        "bigserial" | "serial8" => {
            t[i] = Tok::Word(format!("INTEGER {INT8_MARK}"));
            Ok(Some(i + 1))
        }
        "smallserial" | "serial2" => {
            t[i] = Tok::Word(format!("INTEGER {INT2_MARK}"));
            Ok(Some(i + 1))
        }
        "unlogged" | "concurrently" => {
            t.remove(i);
            if t.get(i) == Some(&Tok::Space) {
                t.remove(i);
            }
            Ok(Some(i))
        }
        "timestamp" | "time" => {
            if let Some((end, name)) = type_at(t, i) {
                if name.contains(' ') {
                    let short = if name.contains("without") { w.clone() } else { format!("{w}tz") };
                    t.splice(i..end, [Tok::Word(short)]);
                    return Ok(Some(i + 1));
                }
            }
            Ok(None)
        }
        "default" => {
            // DEFAULT now() → DEFAULT (now()): SQLite takes an expression in parentheses.
            let Some(k) = next_non_space(t, i + 1) else { return Ok(None) };
            if matches!(t[k], Tok::Word(_)) && t.get(k + 1) == Some(&Tok::LParen) {
                let close = matching(t, k + 1).ok_or_else(|| SqlError::syntax("unbalanced parentheses"))?;
                t.insert(close + 1, Tok::RParen);
                t.insert(k, Tok::LParen);
                return Ok(Some(close + 3));
            }
            Ok(None)
        }
        "generated" => {
            // GENERATED { ALWAYS | BY DEFAULT } AS IDENTITY [ ( … ) ]: the column becomes
            // SQLite's INTEGER (a rowid alias when it is the primary key).
            let mut k = i;
            let mut seen_identity = false;
            while let Some(n) = next_non_space(t, k + 1) {
                let word = t[n].word();
                match word.as_deref() {
                    Some("always" | "by" | "default" | "as") => k = n,
                    Some("identity") => {
                        k = n;
                        seen_identity = true;
                        break;
                    }
                    _ => break,
                }
            }
            if !seen_identity {
                return Ok(None);
            }
            if let Some(n) = next_non_space(t, k + 1).filter(|&n| t[n] == Tok::LParen) {
                k = matching(t, n).unwrap_or(n);
            }
            t.drain(i..=k);
            // The column's type, just before: an integer type becomes INTEGER.
            if let Some(p) = prev_non_space(t, i) {
                let width = t[p].word();
                match width.as_deref() {
                    Some("int" | "int4" | "integer") => t[p] = Tok::Word("INTEGER".into()),
                    Some("int8" | "bigint") => t[p] = Tok::Word(format!("INTEGER {INT8_MARK}")),
                    Some("int2" | "smallint") => t[p] = Tok::Word(format!("INTEGER {INT2_MARK}")),
                    _ => {}
                }
            }
            Ok(Some(i))
        }
        "with" => {
            // Storage parameters after a table's definition: WITH (fillfactor = 100).
            if i > 0 && prev_non_space(t, i).is_some_and(|p| t[p] == Tok::RParen) {
                if let Some(open) = next_non_space(t, i + 1).filter(|&n| t[n] == Tok::LParen) {
                    let close = matching(t, open).ok_or_else(|| SqlError::syntax("unbalanced parentheses"))?;
                    t.drain(i..=close);
                    return Ok(Some(i));
                }
            }
            Ok(None)
        }
        "using" if t.first().is_some_and(|x| x.is_word("create")) && t.iter().any(|x| x.is_word("index")) => {
            // CREATE INDEX … USING btree (cols)
            if let Some(n) = next_non_space(t, i + 1).filter(|&n| matches!(t[n], Tok::Word(_))) {
                t.drain(i..=n);
                return Ok(Some(i));
            }
            Ok(None)
        }
        _ => Ok(None),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn one(sql: &str) -> String {
        let s = translate(sql).unwrap();
        assert_eq!(s.len(), 1, "{s:?}");
        s[0].sqlite.join("; ")
    }

    #[test]
    fn parameters_casts_and_literals_become_sqlite() {
        assert_eq!(one("SELECT $1::int4 + $2, 'it''s', E'a\\nb'"), "SELECT CAST(?1 AS INTEGER) + ?2, 'it''s', 'a\nb'");
        assert_eq!(one("select $$dollar 'quoted'$$"), "select 'dollar ''quoted'''");
        assert_eq!(one("select count(*)::text from t"), "select CAST(count(*) AS TEXT) from t");
        assert_eq!(one("select 'true'::boolean, '2024-01-01'::date"), "select 1, '2024-01-01'");
        assert_eq!(one("select x from t where name ILIKE $1 for update"), "select x from t where name LIKE ?1");
        assert_eq!(one("select pg_catalog.version(), current_user"), "select version(), current_user()");
        assert_eq!(
            one("select relname from pg_catalog.pg_class where relkind = ANY (ARRAY['r'::varchar, 'v']) and n !~ '^pg_'"),
            "select relname from pg_class where relkind IN (CAST('r' AS TEXT), 'v') and n NOT REGEXP '^pg_'"
        );
        assert_eq!(
            one("select 1 where c.relname OPERATOR(pg_catalog.~) '^(t)$' COLLATE pg_catalog.default"),
            "select 1 where c.relname REGEXP '^(t)$'"
        );
        assert_eq!(one("select * from information_schema.tables"), "select * from information_schema_tables");
        assert_eq!(
            one("INSERT INTO b (t) SELECT p0::VARCHAR FROM (VALUES ($1::VARCHAR, 0), ($2, 1)) AS imp_sen(p0, sen) ORDER BY sen"),
            "INSERT INTO b (t) SELECT CAST(p0 AS TEXT) FROM (SELECT column1 AS p0, column2 AS sen FROM (VALUES (CAST(?1 AS TEXT), 0), (?2, 1))) AS imp_sen ORDER BY sen"
        );
        let s = translate("select * from t where id = $2::bigint and v = $1").unwrap().remove(0);
        assert_eq!(s.param_types, vec![(2, PgType::Int8)]);
        assert_eq!(s.params, 2);
    }

    #[test]
    fn table_definitions_become_sqlite() {
        assert_eq!(
            one("CREATE TABLE t (id SERIAL PRIMARY KEY, at timestamp with time zone DEFAULT now(), n numeric(10,2))"),
            "CREATE TABLE t (id INTEGER PRIMARY KEY, at timestamptz DEFAULT (now()), n numeric(10,2))"
        );
        assert_eq!(
            one("create table x (id bigint generated always as identity primary key, v text)"),
            "create table x (id INTEGER /*pg:int8*/ primary key, v text)"
        );
        assert_eq!(
            one("create table pgbench_tellers(tid int not null,bid int) with (fillfactor=100)"),
            "create table pgbench_tellers(tid int not null,bid int)"
        );
        let d = translate("drop table if exists a, b cascade").unwrap().remove(0);
        assert_eq!(d.sqlite, vec!["DROP TABLE IF EXISTS a", "DROP TABLE IF EXISTS b"]);
        let tr = translate("truncate table a, public.b").unwrap().remove(0);
        assert_eq!(tr.sqlite, vec!["DELETE FROM a", "DELETE FROM b"]);
        assert_eq!(tr.kind, Kind::Run("TRUNCATE TABLE".into()));
        let pk = translate("alter table pgbench_branches add primary key (bid)").unwrap().remove(0);
        assert_eq!(pk.sqlite, vec!["CREATE UNIQUE INDEX \"pgbench_branches_pkey\" ON pgbench_branches (bid)"]);
        assert_eq!(
            one("insert into b(bid,bbalance) select bid, 0 from generate_series(1, 3) as bid"),
            "insert into b(bid,bbalance) select bid, 0 from (SELECT value AS bid FROM generate_series(1, 3)) AS bid"
        );
    }

    #[test]
    fn session_commands_and_splitting() {
        let all = translate("BEGIN; SET statement_timeout = '1s'; SHOW TRANSACTION ISOLATION LEVEL; COMMIT;").unwrap();
        assert_eq!(all.len(), 4);
        assert_eq!(all[0].kind, Kind::Begin);
        assert_eq!(all[1].kind, Kind::Set { name: "statement_timeout".into(), value: "1s".into() });
        assert_eq!(all[2].kind, Kind::Show("transaction isolation level".into()));
        assert_eq!(all[3].kind, Kind::Commit);
        let c = translate("copy pgbench_accounts from stdin with (freeze on)").unwrap().remove(0);
        let Kind::Copy(spec) = c.kind else { panic!("{c:?}") };
        assert_eq!(spec.table, "pgbench_accounts");
        assert!(spec.from_stdin && !spec.csv);
        let c = translate("COPY t (a, b) TO STDOUT WITH (FORMAT csv, HEADER)").unwrap().remove(0);
        let Kind::Copy(spec) = c.kind else { panic!("{c:?}") };
        assert_eq!(
            (spec.columns.clone(), spec.from_stdin, spec.csv, spec.header),
            (vec!["a".into(), "b".into()], false, true, true)
        );
        assert_eq!(translate("select 1 /* ; */; -- x;\nselect 2").unwrap().len(), 2);
        assert_eq!(translate("'unterminated").unwrap_err().code, "42601");
        assert_eq!(
            translate("create function f() returns int as $$ select 1 $$ language sql").unwrap_err().code,
            "0A000"
        );
    }
}

/// Where a statement's parameters go, for the types a Describe announces when neither the
/// client nor a cast names one: the tables it names, and for each parameter the column it is
/// compared with or assigned to (`col = $1`, `SET col = $1`, `INSERT INTO t (a, b) VALUES ($1, $2)`).
pub fn parameter_columns(sql: &str) -> (Vec<String>, Vec<(u32, String)>) {
    // SQLite's ?N parameters, as the lexer knows them ($N).
    let Ok(t) = lex(&sql.replace('?', "$")) else { return (Vec::new(), Vec::new()) };
    let t: Vec<Tok> = t.into_iter().filter(|x| *x != Tok::Space).collect();
    let mut tables = Vec::new();
    let mut out = Vec::new();
    for (i, tok) in t.iter().enumerate() {
        if tok.is_word("into") || tok.is_word("update") || tok.is_word("from") || tok.is_word("join") {
            if let Some(name) = t.get(i + 1).and_then(name_text) {
                tables.push(name.trim_matches('"').to_string());
            }
        }
        let Tok::Param(n) = tok else { continue };
        let column_at = |k: usize| -> Option<String> {
            match t.get(k)? {
                Tok::Word(w) if !is_keyword(&t[k]) => Some(w.to_ascii_lowercase()),
                Tok::Ident(q) => Some(q.trim_matches('"').to_string()),
                _ => None,
            }
        };
        let comparison = |k: usize| matches!(t.get(k), Some(Tok::Op(o)) if matches!(o.as_str(), "=" | "<>" | "!=" | "<" | ">" | "<=" | ">="));
        if i >= 2 && comparison(i - 1) {
            if let Some(c) = column_at(i - 2) {
                out.push((*n, c));
                continue;
            }
        }
        if comparison(i + 1) {
            if let Some(c) = column_at(i + 2) {
                out.push((*n, c));
                continue;
            }
        }
    }
    // INSERT INTO t (a, b, …) VALUES (…, …): parameters by position.
    if t.first().is_some_and(|x| x.is_word("insert")) {
        if let (Some(open), Some(values)) =
            (t.iter().position(|x| *x == Tok::LParen), t.iter().position(|x| x.is_word("values")))
        {
            if open < values {
                let cols: Vec<String> = t[open + 1..values]
                    .iter()
                    .take_while(|x| **x != Tok::RParen)
                    .filter_map(name_text)
                    .map(|c| c.trim_matches('"').to_string())
                    .collect();
                let mut position = 0;
                let mut depth = 0;
                for tok in &t[values + 1..] {
                    match tok {
                        Tok::LParen => {
                            depth += 1;
                            if depth == 1 {
                                position = 0;
                            }
                        }
                        Tok::RParen => depth -= 1,
                        Tok::Comma if depth == 1 => position += 1,
                        Tok::Param(n) if depth == 1 => {
                            if let Some(c) = cols.get(position) {
                                out.push((*n, c.clone()));
                            }
                        }
                        _ => {}
                    }
                }
            }
        }
    }
    (tables, out)
}

#[cfg(test)]
mod parameter_tests {
    use super::parameter_columns;

    #[test]
    fn parameters_find_their_columns() {
        let (tables, cols) = parameter_columns("INSERT INTO items (name, price) VALUES (?1, ?2), (?3, ?4)");
        assert_eq!(tables, vec!["items"]);
        assert_eq!(cols, vec![(1, "name".into()), (2, "price".into()), (3, "name".into()), (4, "price".into())]);
        let (tables, cols) = parameter_columns("UPDATE items SET price = ?1 WHERE id = ?2 AND ?3 < qty");
        assert_eq!(tables, vec!["items"]);
        assert_eq!(cols, vec![(1, "price".into()), (2, "id".into()), (3, "qty".into())]);
    }
}
