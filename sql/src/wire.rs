//! Values between SQLite and the PostgreSQL wire: result columns' types (RowDescription), their
//! text and binary encodings, and parameters decoded by their type.

use bytes::{BufMut, BytesMut};
use pgwire::api::results::{FieldFormat, FieldInfo};
use pgwire::api::Type;
use pgwire::messages::data::DataRow;
use rusqlite::types::Value;

use crate::translate::{PgType, SqlError};

pub fn pg_wire_type(t: PgType) -> Type {
    match t {
        PgType::Bool => Type::BOOL,
        PgType::Int2 => Type::INT2,
        PgType::Int4 => Type::INT4,
        PgType::Int8 => Type::INT8,
        PgType::Float4 => Type::FLOAT4,
        PgType::Float8 => Type::FLOAT8,
        PgType::Numeric => Type::NUMERIC,
        PgType::Text => Type::TEXT,
        PgType::Varchar => Type::VARCHAR,
        PgType::Bpchar => Type::BPCHAR,
        PgType::Bytea => Type::BYTEA,
        PgType::Date => Type::DATE,
        PgType::Time => Type::TIME,
        PgType::Timestamp => Type::TIMESTAMP,
        PgType::Timestamptz => Type::TIMESTAMPTZ,
        PgType::Uuid => Type::UUID,
        PgType::Json => Type::JSON,
        PgType::Jsonb => Type::JSONB,
        PgType::Name => Type::NAME,
        PgType::Oid => Type::OID,
    }
}

pub fn pg_type_of_oid(oid: u32) -> Option<PgType> {
    Some(match oid {
        16 => PgType::Bool,
        21 => PgType::Int2,
        23 => PgType::Int4,
        20 => PgType::Int8,
        700 => PgType::Float4,
        701 => PgType::Float8,
        1700 => PgType::Numeric,
        25 => PgType::Text,
        1043 => PgType::Varchar,
        1042 => PgType::Bpchar,
        17 => PgType::Bytea,
        1082 => PgType::Date,
        1083 => PgType::Time,
        1114 => PgType::Timestamp,
        1184 => PgType::Timestamptz,
        2950 => PgType::Uuid,
        114 => PgType::Json,
        3802 => PgType::Jsonb,
        19 => PgType::Name,
        26 => PgType::Oid,
        _ => return None,
    })
}

/// The name PostgreSQL gives an unaliased result column, from SQLite's (which is the
/// expression's text): a function's name, or `?column?`.
pub fn column_name(sqlite_name: &str) -> String {
    let n = sqlite_name.trim();
    if let Some(open) = n.find('(') {
        let f = n[..open].trim();
        if !f.is_empty() && f.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '.') {
            let f = f.rsplit('.').next().unwrap_or(f).to_ascii_lowercase();
            return if f == "cast" { cast_name(n) } else { f };
        }
        return "?column?".into();
    }
    if n.chars().all(|c| c.is_alphanumeric() || c == '_') && !n.starts_with(|c: char| c.is_ascii_digit()) {
        return n.to_string();
    }
    // An alias with spaces ("Locale Provider") is a name; an expression's text is not.
    if !n.is_empty()
        && !n.starts_with(|c: char| c.is_ascii_digit())
        && !n.contains(['+', '-', '*', '/', '|', '=', '<', '>', '\'', '"', '%', '?', ':'])
    {
        return n.to_string();
    }
    if n.starts_with('"') && n.ends_with('"') && n.len() >= 2 {
        return n[1..n.len() - 1].to_string();
    }
    "?column?".into()
}

/// `CAST(x AS t)`: PostgreSQL names it after x when x is a column or function.
fn cast_name(n: &str) -> String {
    let inner = n.trim_start_matches(|c: char| c != '(').trim_start_matches('(');
    let operand = inner.rsplit_once(" AS ").map_or(inner, |(a, _)| a);
    column_name(operand)
}

/// The type of a result column: its declared type, else what its function returns, else
/// what its values are.
pub fn column_type(sqlite_name: &str, decl: Option<&str>, values: Option<&[Vec<Value>]>, index: usize) -> PgType {
    if let Some(t) = decl.and_then(PgType::from_name) {
        return t;
    }
    if decl.is_some() {
        return PgType::Text;
    }
    let lower = sqlite_name.trim().to_ascii_lowercase();
    if CATALOG_BOOLEANS.contains(&lower.as_str()) || is_predicate(&lower) {
        return PgType::Bool;
    }
    if let Some((f, _)) = lower.split_once('(') {
        let f = f.trim().rsplit('.').next().unwrap_or("");
        match f {
            "count" => return PgType::Int8,
            "now" | "transaction_timestamp" | "statement_timestamp" | "clock_timestamp" => return PgType::Timestamptz,
            "version" | "current_database" | "current_schema" | "current_user" | "upper" | "lower" | "concat"
            | "substr" | "substring" | "trim" | "replace" => return PgType::Text,
            "length" | "char_length" | "pg_backend_pid" => return PgType::Int4,
            "random" => return PgType::Float8,
            "gen_random_uuid" | "uuid_generate_v4" => return PgType::Uuid,
            "avg" => return PgType::Numeric,
            "exists" | "pg_table_is_visible" | "pg_is_in_recovery" => return PgType::Bool,
            "cast" => {
                if let Some((_, ty)) = lower.rsplit_once(" as ") {
                    if let Some(t) = PgType::from_name(ty.trim_end_matches(')')) {
                        return match t {
                            PgType::Int4 => PgType::Int8, // CAST(… AS INTEGER): SQLite's 64-bit integers
                            other => other,
                        };
                    }
                }
            }
            _ => {}
        }
    }
    if lower == "current_timestamp" {
        return PgType::Timestamptz;
    }
    if lower == "current_date" {
        return PgType::Date;
    }
    if let Some(rows) = values {
        for row in rows {
            match row.get(index) {
                Some(Value::Integer(_)) => return PgType::Int8,
                Some(Value::Real(_)) => return PgType::Float8,
                Some(Value::Text(_)) => return PgType::Text,
                Some(Value::Blob(_)) => return PgType::Bytea,
                _ => continue,
            }
        }
    }
    PgType::Text
}

/// Whether an unaliased column's expression is a comparison or a logical one (its value is a
/// PostgreSQL boolean, which SQLite answers as 0 or 1): looked for outside parentheses and quotes.
fn is_predicate(expr: &str) -> bool {
    let mut top = String::with_capacity(expr.len());
    let mut depth = 0;
    let mut quoted = false;
    for c in expr.chars() {
        match c {
            '\'' => quoted = !quoted,
            '(' if !quoted => depth += 1,
            ')' if !quoted => depth -= 1,
            _ if depth == 0 && !quoted => top.push(c),
            _ => {}
        }
    }
    let padded = format!(" {top} ");
    ["=", "<", ">", " and ", " or ", " not ", " is ", " like ", " in ", " between ", " exists ", " regexp ", " glob "]
        .iter()
        .any(|op| padded.contains(op))
        && !padded.contains("||")
}

/// Boolean columns of the emulated `pg_catalog` (views over SQLite's schema have no declared
/// types): clients such as psql compare them with `t`.
const CATALOG_BOOLEANS: &[&str] = &[
    "relhasindex",
    "relhasrules",
    "relhastriggers",
    "relrowsecurity",
    "relforcerowsecurity",
    "relhasoids",
    "relispartition",
    "relispopulated",
    "relhassubclass",
    "relisshared",
    "attnotnull",
    "atthasdef",
    "attisdropped",
    "attislocal",
    "indisunique",
    "indisprimary",
    "indisclustered",
    "indisvalid",
    "indisready",
    "indislive",
    "indisreplident",
    "indisexclusion",
    "indimmediate",
    "indnullsnotdistinct",
    "condeferrable",
    "condeferred",
    "convalidated",
    "conislocal",
    "rolsuper",
    "rolinherit",
    "rolcreaterole",
    "rolcreatedb",
    "rolcanlogin",
    "rolreplication",
    "rolbypassrls",
    "usesuper",
    "datistemplate",
    "datallowconn",
    "typisdefined",
    "typnotnull",
    "polpermissive",
    "puballtables",
    "pubviaroot",
    "inhdetachpending",
    "tgisinternal",
];

pub fn fields(
    columns: &[(String, Option<String>)],
    types: &[PgType],
    format: &pgwire::api::portal::Format,
) -> Vec<FieldInfo> {
    columns
        .iter()
        .zip(types)
        .enumerate()
        .map(|(i, ((name, _), t))| {
            FieldInfo::new(column_name(name), None, None, pg_wire_type(*t), format.format_for(i))
        })
        .collect()
}

pub fn row(values: &[Value], types: &[PgType], formats: &[FieldFormat]) -> Result<DataRow, SqlError> {
    let mut buf = BytesMut::with_capacity(64);
    for (i, v) in values.iter().enumerate() {
        let t = types.get(i).copied().unwrap_or(PgType::Text);
        let binary = formats.get(i) == Some(&FieldFormat::Binary);
        let encoded = if binary { binary_value(v, t)? } else { text_value(v, t).map(String::into_bytes) };
        match encoded {
            None => buf.put_i32(-1),
            Some(bytes) => {
                buf.put_i32(bytes.len() as i32);
                buf.put_slice(&bytes);
            }
        }
    }
    Ok(DataRow::new(buf, values.len() as i16))
}

fn hex(bytes: &[u8]) -> String {
    let mut s = String::with_capacity(2 + bytes.len() * 2);
    s.push_str("\\x");
    for b in bytes {
        s.push_str(&format!("{b:02x}"));
    }
    s
}

fn float_text(f: f64) -> String {
    if f.is_nan() {
        "NaN".into()
    } else if f.is_infinite() {
        if f > 0.0 { "Infinity" } else { "-Infinity" }.into()
    } else {
        format!("{f}")
    }
}

fn truthy(s: &str) -> Option<bool> {
    match s.trim().to_ascii_lowercase().as_str() {
        "t" | "true" | "1" | "y" | "yes" | "on" => Some(true),
        "f" | "false" | "0" | "n" | "no" | "off" => Some(false),
        _ => None,
    }
}

/// A value in PostgreSQL's text output for its type.
pub fn text_value(v: &Value, t: PgType) -> Option<String> {
    Some(match (v, t) {
        (Value::Null, _) => return None,
        (Value::Integer(i), PgType::Bool) => if *i != 0 { "t" } else { "f" }.into(),
        (Value::Real(f), PgType::Bool) => if *f != 0.0 { "t" } else { "f" }.into(),
        (Value::Text(s), PgType::Bool) => match truthy(s) {
            Some(b) => if b { "t" } else { "f" }.into(),
            None => s.clone(),
        },
        (Value::Integer(i), _) => i.to_string(),
        (Value::Real(f), PgType::Int2 | PgType::Int4 | PgType::Int8) => format!("{}", f.round() as i64),
        (Value::Real(f), _) => float_text(*f),
        (Value::Blob(b), _) => hex(b),
        (Value::Text(s), PgType::Bytea) => hex(s.as_bytes()),
        (Value::Text(s), PgType::Timestamp) => timestamp_text(s, false),
        (Value::Text(s), PgType::Timestamptz) => timestamp_text(s, true),
        (Value::Text(s), PgType::Date) => s.get(..10).unwrap_or(s).to_string(),
        (Value::Text(s), _) => s.clone(),
    })
}

fn timestamp_text(s: &str, with_zone: bool) -> String {
    let mut t = s.replacen('T', " ", 1);
    if let Some(stripped) = t.strip_suffix('Z') {
        t = format!("{stripped}+00");
    }
    let offset_at = t.get(10..).and_then(|rest| rest.rfind(['+', '-']).map(|p| p + 10));
    match (with_zone, offset_at) {
        (true, None) if t.len() > 10 => format!("{t}+00"),
        (false, Some(p)) => t[..p].to_string(),
        _ => t,
    }
}

fn parse_err(t: PgType, s: &str) -> SqlError {
    SqlError::new("22P02", format!("invalid input syntax for type {}: \"{s}\"", pg_wire_type(t).name()))
}

/// Days from 2000-01-01 (PostgreSQL's epoch) to y-m-d.
fn days_from_civil(y: i64, m: u32, d: u32) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y.rem_euclid(400);
    let mp = (i64::from(m) + 9) % 12;
    let doy = (153 * mp + 2) / 5 + i64::from(d) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468 - 10_957
}

fn parse_date(s: &str) -> Option<i64> {
    let mut parts = s.get(..10)?.split('-');
    let y = parts.next()?.parse().ok()?;
    let m = parts.next()?.parse().ok()?;
    let d = parts.next()?.parse().ok()?;
    Some(days_from_civil(y, m, d))
}

/// Microseconds since midnight from `HH:MM[:SS[.ffffff]]`.
fn parse_time(s: &str) -> Option<i64> {
    let mut parts = s.split(':');
    let h: i64 = parts.next()?.trim().parse().ok()?;
    let m: i64 = parts.next()?.parse().ok()?;
    let sec = parts.next().unwrap_or("0");
    let (whole, frac) = sec.split_once('.').unwrap_or((sec, ""));
    let whole: i64 = whole.parse().ok()?;
    let mut micros = 0;
    if !frac.is_empty() {
        let digits: String = frac.chars().take(6).collect();
        micros = digits.parse::<i64>().ok()? * 10i64.pow(6 - digits.len() as u32);
    }
    Some(((h * 60 + m) * 60 + whole) * 1_000_000 + micros)
}

/// Microseconds since 2000-01-01 00:00 UTC.
fn parse_timestamp(s: &str) -> Option<i64> {
    let s = s.trim().replacen('T', " ", 1);
    let days = parse_date(&s)?;
    let rest = s.get(10..).unwrap_or("").trim();
    let (time, offset_secs) = match rest.rfind(['+', '-']).filter(|_| !rest.is_empty()) {
        Some(p) => {
            let off = &rest[p + 1..];
            let (oh, om) = off.split_once(':').unwrap_or((off, "0"));
            let secs = oh.parse::<i64>().ok()? * 3600 + om.parse::<i64>().ok()? * 60;
            (&rest[..p], if rest.as_bytes()[p] == b'-' { -secs } else { secs })
        }
        None => (rest.trim_end_matches('Z'), 0),
    };
    let micros = if time.is_empty() { 0 } else { parse_time(time)? };
    Some(days * 86_400_000_000 + micros - offset_secs * 1_000_000)
}

fn uuid_bytes(s: &str) -> Option<Vec<u8>> {
    let h: String = s.chars().filter(|c| *c != '-').collect();
    if h.len() != 32 {
        return None;
    }
    (0..16).map(|i| u8::from_str_radix(&h[2 * i..2 * i + 2], 16).ok()).collect()
}

/// PostgreSQL's binary NUMERIC from a decimal string.
fn numeric_binary(s: &str) -> Option<Vec<u8>> {
    let s = s.trim();
    let (negative, digits) = match s.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, s.strip_prefix('+').unwrap_or(s)),
    };
    if digits.contains(['e', 'E']) {
        return numeric_binary(&format!("{:.15}", s.parse::<f64>().ok()?));
    }
    let (int, frac) = digits.split_once('.').unwrap_or((digits, ""));
    if !int.chars().all(|c| c.is_ascii_digit()) || !frac.chars().all(|c| c.is_ascii_digit()) {
        return None;
    }
    let dscale = frac.len() as i16;
    // Pad to groups of 4 around the decimal point.
    let int_pad = (4 - int.len() % 4) % 4;
    let frac_pad = (4 - frac.len() % 4) % 4;
    let all = format!("{}{int}{frac}{}", "0".repeat(int_pad), "0".repeat(frac_pad));
    let mut groups: Vec<i16> =
        all.as_bytes().chunks(4).map(|c| std::str::from_utf8(c).unwrap_or("0").parse().unwrap_or(0)).collect();
    let mut weight = ((int.len() + int_pad) / 4) as i16 - 1;
    while groups.first() == Some(&0) && !groups.is_empty() {
        groups.remove(0);
        weight -= 1;
    }
    while groups.last() == Some(&0) {
        groups.pop();
    }
    if groups.is_empty() {
        weight = 0;
    }
    let mut out = Vec::with_capacity(8 + groups.len() * 2);
    out.extend((groups.len() as i16).to_be_bytes());
    out.extend(weight.to_be_bytes());
    out.extend((if negative && !groups.is_empty() { 0x4000u16 } else { 0 }).to_be_bytes());
    out.extend(dscale.to_be_bytes());
    for g in groups {
        out.extend(g.to_be_bytes());
    }
    Some(out)
}

/// A value in PostgreSQL's binary format for its type.
fn binary_value(v: &Value, t: PgType) -> Result<Option<Vec<u8>>, SqlError> {
    if matches!(v, Value::Null) {
        return Ok(None);
    }
    let text = || text_value(v, t).unwrap_or_default();
    let as_i64 = || -> Result<i64, SqlError> {
        match v {
            Value::Integer(i) => Ok(*i),
            Value::Real(f) => Ok(f.round() as i64),
            other => {
                let s = text_value(other, t).unwrap_or_default();
                s.trim().parse().map_err(|_| parse_err(t, &s))
            }
        }
    };
    let as_f64 = || -> Result<f64, SqlError> {
        match v {
            Value::Integer(i) => Ok(*i as f64),
            Value::Real(f) => Ok(*f),
            other => {
                let s = text_value(other, t).unwrap_or_default();
                s.trim().parse().map_err(|_| parse_err(t, &s))
            }
        }
    };
    Ok(Some(match t {
        PgType::Bool => vec![u8::from(text() == "t")],
        PgType::Int2 => (as_i64()? as i16).to_be_bytes().to_vec(),
        PgType::Int4 => (as_i64()? as i32).to_be_bytes().to_vec(),
        PgType::Int8 => as_i64()?.to_be_bytes().to_vec(),
        PgType::Oid => (as_i64()? as u32).to_be_bytes().to_vec(),
        PgType::Float4 => (as_f64()? as f32).to_be_bytes().to_vec(),
        PgType::Float8 => as_f64()?.to_be_bytes().to_vec(),
        PgType::Numeric => {
            let s = text();
            numeric_binary(&s).ok_or_else(|| parse_err(t, &s))?
        }
        PgType::Bytea => match v {
            Value::Blob(b) => b.clone(),
            Value::Text(s) => s.as_bytes().to_vec(),
            other => text_value(other, PgType::Text).unwrap_or_default().into_bytes(),
        },
        PgType::Uuid => {
            let s = text();
            uuid_bytes(&s).ok_or_else(|| parse_err(t, &s))?
        }
        PgType::Date => {
            let s = text();
            (parse_date(&s).ok_or_else(|| parse_err(t, &s))? as i32).to_be_bytes().to_vec()
        }
        PgType::Time => {
            let s = text();
            parse_time(&s).ok_or_else(|| parse_err(t, &s))?.to_be_bytes().to_vec()
        }
        PgType::Timestamp | PgType::Timestamptz => {
            let s = match v {
                Value::Text(s) => s.clone(),
                other => text_value(other, PgType::Text).unwrap_or_default(),
            };
            parse_timestamp(&s).ok_or_else(|| parse_err(t, &s))?.to_be_bytes().to_vec()
        }
        PgType::Jsonb => {
            let mut out = vec![1u8];
            out.extend(text().into_bytes());
            out
        }
        PgType::Text | PgType::Varchar | PgType::Bpchar | PgType::Json | PgType::Name => text().into_bytes(),
    }))
}

/// A parameter as SQLite should bind it: by its type when the client or a cast names one, else
/// as text (SQLite's column affinity converts it where a column is compared or assigned).
pub fn param_value(raw: Option<&[u8]>, binary: bool, t: Option<PgType>) -> Result<Value, SqlError> {
    let Some(raw) = raw else { return Ok(Value::Null) };
    if !binary {
        let s = std::str::from_utf8(raw)
            .map_err(|_| SqlError::new("22021", "invalid byte sequence for encoding \"UTF8\""))?;
        return Ok(match t {
            Some(PgType::Int2 | PgType::Int4 | PgType::Int8 | PgType::Oid) => {
                Value::Integer(s.trim().parse().map_err(|_| parse_err(t.unwrap_or(PgType::Int8), s))?)
            }
            Some(PgType::Float4 | PgType::Float8) => {
                Value::Real(s.trim().parse().map_err(|_| parse_err(t.unwrap_or(PgType::Float8), s))?)
            }
            Some(PgType::Numeric) => match s.trim().parse::<i64>() {
                Ok(i) => Value::Integer(i),
                Err(_) => s.trim().parse::<f64>().map(Value::Real).unwrap_or_else(|_| Value::Text(s.to_string())),
            },
            Some(PgType::Bool) => Value::Integer(i64::from(truthy(s).ok_or_else(|| parse_err(PgType::Bool, s))?)),
            Some(PgType::Bytea) => match s.strip_prefix("\\x") {
                Some(h) if h.len() % 2 == 0 => Value::Blob(
                    (0..h.len() / 2)
                        .map(|i| u8::from_str_radix(&h[2 * i..2 * i + 2], 16))
                        .collect::<Result<_, _>>()
                        .map_err(|_| parse_err(PgType::Bytea, s))?,
                ),
                _ => Value::Blob(raw.to_vec()),
            },
            _ => Value::Text(s.to_string()),
        });
    }
    let t = t.unwrap_or(PgType::Text);
    let int = |n: usize| -> Result<i64, SqlError> {
        if raw.len() != n {
            return Err(SqlError::new(
                "08P01",
                format!("a binary {} parameter needs {n} bytes", pg_wire_type(t).name()),
            ));
        }
        let mut b = [0u8; 8];
        b[8 - n..].copy_from_slice(raw);
        let v = i64::from_be_bytes(b);
        let shift = 64 - 8 * n as u32;
        Ok((v << shift) >> shift)
    };
    Ok(match t {
        PgType::Bool => Value::Integer(i64::from(raw.first().copied().unwrap_or(0) != 0)),
        PgType::Int2 => Value::Integer(int(2)?),
        PgType::Int4 => Value::Integer(int(4)?),
        PgType::Int8 => Value::Integer(int(8)?),
        PgType::Oid => Value::Integer(int(4)? & 0xffff_ffff),
        PgType::Float4 => Value::Real(f64::from(f32::from_bits(int(4)? as u32))),
        PgType::Float8 => Value::Real(f64::from_bits(int(8)? as u64)),
        PgType::Bytea => Value::Blob(raw.to_vec()),
        PgType::Uuid if raw.len() == 16 => {
            let h: String = raw.iter().map(|b| format!("{b:02x}")).collect();
            Value::Text(format!("{}-{}-{}-{}-{}", &h[..8], &h[8..12], &h[12..16], &h[16..20], &h[20..]))
        }
        PgType::Jsonb if raw.first() == Some(&1) => Value::Text(String::from_utf8_lossy(&raw[1..]).into_owned()),
        PgType::Text | PgType::Varchar | PgType::Bpchar | PgType::Json | PgType::Name | PgType::Jsonb => {
            Value::Text(String::from_utf8_lossy(raw).into_owned())
        }
        other => {
            return Err(SqlError::unsupported(format!(
                "binary parameters of type {} are not supported by squall's SQL endpoint: send them as text",
                pg_wire_type(other).name()
            )))
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_types_follow_postgresql() {
        assert_eq!(column_name("count(*)"), "count");
        assert_eq!(column_name("CAST(count(*) AS TEXT)"), "count");
        assert_eq!(column_name("1"), "?column?");
        assert_eq!(column_name("a + b"), "?column?");
        assert_eq!(column_type("count(*)", None, None, 0), PgType::Int8);
        assert_eq!(column_type("x", Some("timestamptz"), None, 0), PgType::Timestamptz);
        assert_eq!(column_type("x", Some("SERIAL"), None, 0), PgType::Int4);
        assert_eq!(column_type("1", None, Some(&[vec![Value::Integer(1)]]), 0), PgType::Int8);
        assert_eq!(
            column_type("sum(a) = (select sum(b) from t)", None, Some(&[vec![Value::Integer(1)]]), 0),
            PgType::Bool
        );
        assert_eq!(column_type("count(*) > 3", None, None, 0), PgType::Bool);
        assert_eq!(column_type("a || '=' || b", None, None, 0), PgType::Text);
    }

    #[test]
    fn values_encode_as_postgresql_does() {
        assert_eq!(text_value(&Value::Integer(1), PgType::Bool).as_deref(), Some("t"));
        assert_eq!(text_value(&Value::Blob(vec![0xde, 0xad]), PgType::Bytea).as_deref(), Some("\\xdead"));
        assert_eq!(
            text_value(&Value::Text("2026-01-02 03:04:05".into()), PgType::Timestamptz).as_deref(),
            Some("2026-01-02 03:04:05+00")
        );
        assert_eq!(
            text_value(&Value::Text("2026-01-02 03:04:05.5+00".into()), PgType::Timestamp).as_deref(),
            Some("2026-01-02 03:04:05.5")
        );
        assert_eq!(parse_timestamp("2000-01-01 00:00:01+00"), Some(1_000_000));
        assert_eq!(parse_date("2000-01-02"), Some(1));
        // 12.5 = groups [12, 5000], weight 0, dscale 1
        assert_eq!(numeric_binary("12.5"), Some(vec![0, 2, 0, 0, 0, 0, 0, 1, 0, 12, 0x13, 0x88]));
        assert_eq!(param_value(Some(&[0, 0, 0, 7]), true, Some(PgType::Int4)).unwrap(), Value::Integer(7));
        assert_eq!(param_value(Some(&[0xff, 0xff]), true, Some(PgType::Int2)).unwrap(), Value::Integer(-1));
        assert_eq!(param_value(Some(b"42"), false, Some(PgType::Int8)).unwrap(), Value::Integer(42));
        assert_eq!(param_value(Some(b"42"), false, None).unwrap(), Value::Text("42".into()));
    }
}
