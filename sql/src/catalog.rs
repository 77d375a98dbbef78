//! Enough of PostgreSQL's catalog for psql's `\l`, `\dt`, `\d <table>` and for drivers' and
//! ORMs' introspection (SQLAlchemy's `has_table`, psycopg's type lookups): `pg_catalog` views
//! over SQLite's own schema, kept in the connection's temporary schema (in memory, never in the
//! database's pages), and the catalog functions those queries call.

use rusqlite::functions::FunctionFlags;
use rusqlite::Connection;

use crate::translate::PgType;
use crate::wire::pg_wire_type;

/// OIDs of user relations start here, as in PostgreSQL: 16384 + SQLite's schema row id.
pub const FIRST_USER_OID: i64 = 16384;

/// The views, created once per connection.
const VIEWS: &str = r#"
CREATE TEMP VIEW pg_namespace AS
  SELECT CAST(column1 AS INTEGER) AS oid, column2 AS nspname, 10 AS nspowner, NULL AS nspacl
  FROM (VALUES (11, 'pg_catalog'), (2200, 'public'), (13000, 'information_schema'));
CREATE TEMP VIEW pg_am AS
  SELECT CAST(column1 AS INTEGER) AS oid, column2 AS amname, column3 AS amtype
  FROM (VALUES (2, 'heap', 't'), (403, 'btree', 'i'));
CREATE TEMP VIEW pg_class AS
  SELECT CAST(16384 + s.rowid AS INTEGER) AS oid, s.name AS relname, CAST(2200 AS INTEGER) AS relnamespace,
    CASE s.type WHEN 'table' THEN 'r' WHEN 'index' THEN 'i' WHEN 'view' THEN 'v' END AS relkind,
    CAST(10 AS INTEGER) AS relowner, CAST(CASE s.type WHEN 'index' THEN 403 WHEN 'table' THEN 2 ELSE 0 END AS INTEGER) AS relam,
    CAST(0 AS INTEGER) AS reltablespace,
    (s.type = 'table' AND EXISTS (SELECT 1 FROM sqlite_schema i WHERE i.type = 'index' AND i.tbl_name = s.name)) AS relhasindex,
    'p' AS relpersistence, 0 AS relchecks, 0 AS relhasrules,
    EXISTS (SELECT 1 FROM sqlite_schema t WHERE t.type = 'trigger' AND t.tbl_name = s.name) AS relhastriggers,
    0 AS relrowsecurity, 0 AS relforcerowsecurity, 0 AS relispartition, CAST(0 AS INTEGER) AS reloftype,
    'd' AS relreplident, 1 AS relispopulated, NULL AS reloptions, 0 AS relpages, -1 AS reltuples, NULL AS relacl,
    CAST(0 AS INTEGER) AS reltoastrelid, 0 AS relhassubclass, 0 AS relisshared, NULL AS relpartbound,
    (SELECT count(*) FROM pragma_table_info(s.name)) AS relnatts, CAST(0 AS INTEGER) AS reltype
  FROM sqlite_schema s WHERE s.type IN ('table', 'index', 'view') AND s.name NOT LIKE 'sqlite_%';
CREATE TEMP VIEW pg_attribute AS
  SELECT CAST(16384 + s.rowid AS INTEGER) AS attrelid, p.name AS attname, CAST(p.cid + 1 AS INTEGER) AS attnum,
    CAST(squall_type_oid(p.type) AS INTEGER) AS atttypid, CAST(squall_typmod(p.type) AS INTEGER) AS atttypmod,
    (p."notnull" OR p.pk > 0) AS attnotnull, (p.dflt_value IS NOT NULL) AS atthasdef, '' AS attidentity,
    '' AS attgenerated, 0 AS attisdropped, CAST(0 AS INTEGER) AS attcollation, NULL AS attoptions,
    NULL AS attfdwoptions, 'p' AS attstorage, -1 AS attstattarget, -1 AS attlen, 0 AS attndims, 1 AS attislocal
  FROM sqlite_schema s, pragma_table_info(s.name) p
  WHERE s.type IN ('table', 'view') AND s.name NOT LIKE 'sqlite_%';
CREATE TEMP VIEW pg_attrdef AS
  SELECT CAST(16384 + s.rowid AS INTEGER) AS adrelid, CAST(p.cid + 1 AS INTEGER) AS adnum, p.dflt_value AS adbin,
    CAST(16384 + s.rowid AS INTEGER) * 1000 + p.cid AS oid
  FROM sqlite_schema s, pragma_table_info(s.name) p
  WHERE s.type = 'table' AND p.dflt_value IS NOT NULL;
CREATE TEMP VIEW pg_index AS
  SELECT CAST(16384 + i.rowid AS INTEGER) AS indexrelid, CAST(16384 + t.rowid AS INTEGER) AS indrelid,
    (il."unique") AS indisunique, (il.origin = 'pk' OR i.name LIKE '%\_pkey' ESCAPE '\') AS indisprimary,
    0 AS indisclustered, 1 AS indisvalid, 1 AS indisready, 1 AS indislive, 0 AS indisreplident,
    0 AS indisexclusion, 1 AS indimmediate, 0 AS indnullsnotdistinct,
    (SELECT group_concat(ii.cid + 1, ' ') FROM pragma_index_info(i.name) ii) AS indkey,
    (SELECT count(*) FROM pragma_index_info(i.name)) AS indnatts
  FROM sqlite_schema i JOIN sqlite_schema t ON t.type = 'table' AND t.name = i.tbl_name
  JOIN pragma_index_list(t.name) il ON il.name = i.name
  WHERE i.type = 'index';
CREATE TEMP VIEW squall_indexdefs AS
  SELECT CAST(16384 + i.rowid AS INTEGER) AS oid,
    'CREATE ' || CASE WHEN il."unique" THEN 'UNIQUE ' ELSE '' END || 'INDEX ' || i.name || ' ON public.' || i.tbl_name
      || ' USING btree (' || (SELECT group_concat(ii.name, ', ') FROM pragma_index_info(i.name) ii) || ')' AS def
  FROM sqlite_schema i JOIN pragma_index_list(i.tbl_name) il ON il.name = i.name
  WHERE i.type = 'index';
CREATE TEMP VIEW pg_constraint AS
  SELECT CAST(0 AS INTEGER) AS oid, '' AS conname, CAST(0 AS INTEGER) AS conrelid, '' AS contype,
    CAST(0 AS INTEGER) AS conindid, CAST(0 AS INTEGER) AS confrelid, 0 AS condeferrable, 0 AS condeferred,
    1 AS convalidated, CAST(0 AS INTEGER) AS conparentid, NULL AS conkey, NULL AS confkey, 1 AS conislocal
  WHERE 0;
CREATE TEMP VIEW pg_database AS
  SELECT CAST(column1 AS INTEGER) AS oid, column2 AS datname, CAST(10 AS INTEGER) AS datdba, 6 AS encoding,
    'en_US.UTF-8' AS datcollate, 'en_US.UTF-8' AS datctype, NULL AS daticulocale, 'c' AS datlocprovider,
    NULL AS datacl, 0 AS datistemplate, 1 AS datallowconn, -1 AS datconnlimit
  FROM squall_databases;
CREATE TEMP VIEW pg_type AS
  SELECT CAST(column1 AS INTEGER) AS oid, column2 AS typname, CAST(11 AS INTEGER) AS typnamespace,
    CAST(column3 AS INTEGER) AS typarray, ',' AS typdelim, 'b' AS typtype, CAST(0 AS INTEGER) AS typrelid,
    CAST(0 AS INTEGER) AS typelem, CAST(0 AS INTEGER) AS typbasetype, 1 AS typisdefined, column4 AS typcategory,
    CAST(CASE WHEN column4 = 'S' THEN 100 ELSE 0 END AS INTEGER) AS typcollation, 0 AS typnotnull, -1 AS typtypmod,
    NULL AS typdefault, 'p' AS typstorage, -1 AS typlen
  FROM squall_types;
CREATE TEMP VIEW pg_collation AS
  SELECT CAST(100 AS INTEGER) AS oid, 'default' AS collname, CAST(11 AS INTEGER) AS collnamespace;
CREATE TEMP VIEW pg_roles AS
  SELECT CAST(10 AS INTEGER) AS oid, squall_user() AS rolname, 1 AS rolsuper, 1 AS rolinherit, 1 AS rolcreaterole,
    1 AS rolcreatedb, 1 AS rolcanlogin, 0 AS rolreplication, -1 AS rolconnlimit, NULL AS rolvaliduntil,
    0 AS rolbypassrls, NULL AS rolconfig;
CREATE TEMP VIEW pg_user AS SELECT rolname AS usename, oid AS usesysid, 1 AS usesuper FROM pg_roles;
CREATE TEMP VIEW pg_description AS
  SELECT CAST(0 AS INTEGER) AS objoid, CAST(0 AS INTEGER) AS classoid, 0 AS objsubid, '' AS description WHERE 0;
CREATE TEMP VIEW pg_inherits AS
  SELECT CAST(0 AS INTEGER) AS inhrelid, CAST(0 AS INTEGER) AS inhparent, 0 AS inhseqno, 0 AS inhdetachpending WHERE 0;
CREATE TEMP VIEW pg_trigger AS
  SELECT CAST(0 AS INTEGER) AS oid, CAST(0 AS INTEGER) AS tgrelid, '' AS tgname, 0 AS tgisinternal,
    'O' AS tgenabled, CAST(0 AS INTEGER) AS tgparentid WHERE 0;
CREATE TEMP VIEW pg_policy AS
  SELECT '' AS polname, CAST(0 AS INTEGER) AS polrelid, 1 AS polpermissive, NULL AS polroles, NULL AS polqual,
    NULL AS polwithcheck, '*' AS polcmd WHERE 0;
CREATE TEMP VIEW pg_statistic_ext AS
  SELECT CAST(0 AS INTEGER) AS oid, CAST(0 AS INTEGER) AS stxrelid, '' AS stxname, CAST(2200 AS INTEGER) AS stxnamespace,
    NULL AS stxkind, NULL AS stxkeys, -1 AS stxstattarget WHERE 0;
CREATE TEMP VIEW pg_publication AS
  SELECT CAST(0 AS INTEGER) AS oid, '' AS pubname, 0 AS puballtables, 0 AS pubviaroot WHERE 0;
CREATE TEMP VIEW pg_publication_rel AS
  SELECT CAST(0 AS INTEGER) AS prpubid, CAST(0 AS INTEGER) AS prrelid, NULL AS prqual, NULL AS prattrs WHERE 0;
CREATE TEMP VIEW pg_publication_namespace AS
  SELECT CAST(0 AS INTEGER) AS pnpubid, CAST(0 AS INTEGER) AS pnnspid WHERE 0;
CREATE TEMP VIEW pg_foreign_table AS SELECT CAST(0 AS INTEGER) AS ftrelid, NULL AS ftoptions WHERE 0;
CREATE TEMP VIEW pg_partitioned_table AS SELECT CAST(0 AS INTEGER) AS partrelid WHERE 0;
CREATE TEMP VIEW pg_settings AS
  SELECT column1 AS name, column2 AS setting FROM (VALUES ('server_version', '15.4'), ('max_identifier_length', '63'));
CREATE TEMP VIEW information_schema_tables AS
  SELECT squall_current_database() AS table_catalog, 'public' AS table_schema, name AS table_name,
    CASE type WHEN 'view' THEN 'VIEW' ELSE 'BASE TABLE' END AS table_type
  FROM sqlite_schema WHERE type IN ('table', 'view') AND name NOT LIKE 'sqlite_%';
CREATE TEMP VIEW information_schema_columns AS
  SELECT squall_current_database() AS table_catalog, 'public' AS table_schema, s.name AS table_name,
    p.name AS column_name, p.cid + 1 AS ordinal_position, p.dflt_value AS column_default,
    CASE WHEN p."notnull" OR p.pk > 0 THEN 'NO' ELSE 'YES' END AS is_nullable,
    squall_format_decl(p.type) AS data_type
  FROM sqlite_schema s, pragma_table_info(s.name) p WHERE s.type IN ('table', 'view') AND s.name NOT LIKE 'sqlite_%';
"#;

/// Registers the catalog's functions and creates its views on `conn`.
pub fn install(conn: &Connection, databases: &[String], user: &str) -> rusqlite::Result<()> {
    let det = FunctionFlags::SQLITE_UTF8 | FunctionFlags::SQLITE_DETERMINISTIC;
    let owner = user.to_string();
    conn.create_scalar_function("pg_get_userbyid", 1, det, move |_| Ok(owner.clone()))?;
    let u = user.to_string();
    conn.create_scalar_function("squall_user", 0, det, move |_| Ok(u.clone()))?;
    let first = databases.first().cloned().unwrap_or_else(|| "postgres".into());
    conn.create_scalar_function("squall_current_database", 0, det, move |_| Ok(first.clone()))?;
    conn.create_scalar_function("pg_encoding_to_char", 1, det, |_| Ok("UTF8"))?;
    conn.create_scalar_function("array_to_string", 2, det, |ctx| ctx.get::<Option<String>>(0))?;
    conn.create_scalar_function("pg_get_expr", 2, det, |ctx| ctx.get::<Option<String>>(0))?;
    conn.create_scalar_function("pg_get_expr", 3, det, |ctx| ctx.get::<Option<String>>(0))?;
    conn.create_scalar_function("obj_description", 2, det, |_| Ok(None::<String>))?;
    conn.create_scalar_function("col_description", 2, det, |_| Ok(None::<String>))?;
    conn.create_scalar_function("has_table_privilege", 2, det, |_| Ok(true))?;
    conn.create_scalar_function("has_schema_privilege", 2, det, |_| Ok(true))?;
    conn.create_scalar_function("to_regtype", 1, det, |ctx| {
        let name: Option<String> = ctx.get(0)?;
        Ok(name.and_then(|n| PgType::from_name(&n)).map(|t| i64::from(pg_wire_type(t).oid())))
    })?;
    conn.create_scalar_function("to_regclass", 1, det, |_| Ok(None::<i64>))?;
    conn.create_scalar_function("squall_type_oid", 1, det, |ctx| {
        let decl: Option<String> = ctx.get(0)?;
        let t = decl.as_deref().and_then(PgType::from_name).unwrap_or(PgType::Text);
        Ok(i64::from(pg_wire_type(t).oid()))
    })?;
    conn.create_scalar_function("squall_typmod", 1, det, |ctx| {
        let decl: Option<String> = ctx.get(0)?;
        Ok(decl.as_deref().map_or(-1, typmod))
    })?;
    conn.create_scalar_function("format_type", 2, det, |ctx| {
        let oid: Option<i64> = ctx.get(0)?;
        let modifier: Option<i64> = ctx.get(1)?;
        Ok(oid.map(|o| format_type(o, modifier.unwrap_or(-1))))
    })?;
    conn.create_scalar_function("squall_format_decl", 1, det, |ctx| {
        let decl: Option<String> = ctx.get(0)?;
        let t = decl.as_deref().and_then(PgType::from_name).unwrap_or(PgType::Text);
        Ok(format_type(i64::from(pg_wire_type(t).oid()), -1))
    })?;
    // Catalog objects SQLite has none of (statistics objects, rules, policies): their
    // definitions are NULL, and `x = any(array_column)` over their (empty) views is NULL too.
    for (name, args) in [
        ("pg_get_statisticsobjdef_columns", 1),
        ("pg_get_triggerdef", 1),
        ("pg_get_triggerdef", 2),
        ("pg_get_ruledef", 1),
        ("pg_get_ruledef", 2),
        ("pg_get_partkeydef", 1),
        ("pg_get_viewdef", 1),
        ("pg_get_viewdef", 2),
        ("any", 1),
        ("all", 1),
        ("squall_subscript", 2),
        ("array_upper", 2),
        ("array_lower", 2),
        ("pg_relation_is_publishable", 1),
    ] {
        conn.create_scalar_function(name, args, det, |_| Ok(None::<String>))?;
    }
    conn.create_scalar_function("pg_get_indexdef", 1, det, |_| Ok(None::<String>))?;
    conn.create_scalar_function("pg_get_indexdef", 3, det, |_| Ok(None::<String>))?;
    conn.create_scalar_function("pg_get_constraintdef", 2, det, |_| Ok(None::<String>))?;
    conn.create_scalar_function("regexp", 2, det, |ctx| {
        let pattern: String = ctx.get(0)?;
        let text: Option<String> = ctx.get(1)?;
        let re = regex_lite::Regex::new(&pattern).map_err(|e| rusqlite::Error::UserFunctionError(Box::new(e)))?;
        Ok(text.is_some_and(|t| re.is_match(&t)))
    })?;
    let mut setup = String::from("CREATE TEMP TABLE squall_databases (column1 INTEGER, column2 TEXT);");
    for (i, name) in databases.iter().enumerate() {
        setup.push_str(&format!(
            "INSERT INTO squall_databases VALUES ({}, '{}');",
            16384 + i,
            name.replace('\'', "''")
        ));
    }
    setup.push_str("CREATE TEMP TABLE squall_types (column1 INTEGER, column2 TEXT, column3 INTEGER, column4 TEXT);");
    for (oid, name, array, category) in [
        (16, "bool", 1000, "B"),
        (17, "bytea", 1001, "U"),
        (19, "name", 1003, "S"),
        (20, "int8", 1016, "N"),
        (21, "int2", 1005, "N"),
        (23, "int4", 1007, "N"),
        (25, "text", 1009, "S"),
        (26, "oid", 1028, "N"),
        (114, "json", 199, "U"),
        (700, "float4", 1021, "N"),
        (701, "float8", 1022, "N"),
        (1042, "bpchar", 1014, "S"),
        (1043, "varchar", 1015, "S"),
        (1082, "date", 1182, "D"),
        (1083, "time", 1183, "D"),
        (1114, "timestamp", 1115, "D"),
        (1184, "timestamptz", 1185, "D"),
        (1700, "numeric", 1231, "N"),
        (2950, "uuid", 2951, "U"),
        (3802, "jsonb", 3807, "U"),
    ] {
        setup.push_str(&format!("INSERT INTO squall_types VALUES ({oid}, '{name}', {array}, '{category}');"));
    }
    conn.execute_batch(&setup)?;
    conn.execute_batch(VIEWS)
}

/// PostgreSQL's type modifier of a declared type: `numeric(10,2)`, `varchar(20)`.
fn typmod(decl: &str) -> i64 {
    let Some((_, args)) = decl.split_once('(') else { return -1 };
    let nums: Vec<i64> = args.trim_end_matches(')').split(',').filter_map(|n| n.trim().parse().ok()).collect();
    match (PgType::from_name(decl), nums.as_slice()) {
        (Some(PgType::Numeric), [p]) => (p << 16) + 4,
        (Some(PgType::Numeric), [p, s]) => ((p << 16) | s) + 4,
        (Some(PgType::Varchar | PgType::Bpchar), [n]) => n + 4,
        _ => -1,
    }
}

/// What `format_type` prints: PostgreSQL's SQL name of a type, with its modifier.
pub fn format_type(oid: i64, modifier: i64) -> String {
    let base = match oid {
        16 => "boolean",
        17 => "bytea",
        19 => "name",
        20 => "bigint",
        21 => "smallint",
        23 => "integer",
        25 => "text",
        26 => "oid",
        114 => "json",
        700 => "real",
        701 => "double precision",
        1042 => "character",
        1043 => "character varying",
        1082 => "date",
        1083 => "time without time zone",
        1114 => "timestamp without time zone",
        1184 => "timestamp with time zone",
        1700 => "numeric",
        2950 => "uuid",
        3802 => "jsonb",
        _ => "text",
    };
    if modifier < 4 {
        return base.to_string();
    }
    match oid {
        1700 => {
            let m = modifier - 4;
            format!("{base}({},{})", m >> 16, m & 0xffff)
        }
        1042 | 1043 => format!("{base}({})", modifier - 4),
        _ => base.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn types_print_as_postgresql_names_them() {
        assert_eq!(format_type(1700, typmod("numeric(10,2)")), "numeric(10,2)");
        assert_eq!(format_type(1043, typmod("varchar(20)")), "character varying(20)");
        assert_eq!(format_type(23, typmod("INTEGER")), "integer");
    }
}
