#!/usr/bin/env python3
"""Generate squall's wire types from botocore's AWS service models.

For each service in services.json this writes `<crate>/src/generated/`:
  - one file per resource with the shapes only that resource's operations use,
  - common.rs with the shapes several resources share,
  - mod.rs with the request/response enums that dispatch on the action name.

Each struct gets a query decoder (for shapes that appear in requests) and an XML encoder
(for shapes that appear in responses), written against the runtime in `squall-protocol`.

Usage: python3 tools/codegen/gen.py [--check]
  --check  regenerate into a temporary tree and fail if the checked-in code differs.

The model comes from the botocore wheel pinned in services.json, downloaded once with
`pip download` into target/codegen/ (no other network access is needed).
"""

import argparse
import difflib
import glob
import gzip
import json
import os
import re
import subprocess
import sys
import tempfile
import zipfile

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
CONFIG = os.path.join(ROOT, "tools", "codegen", "services.json")
CACHE = os.path.join(ROOT, "target", "codegen")

RUST_KEYWORDS = {
    "as", "break", "const", "continue", "crate", "else", "enum", "extern", "false", "fn", "for",
    "if", "impl", "in", "let", "loop", "match", "mod", "move", "mut", "pub", "ref", "return",
    "self", "Self", "static", "struct", "super", "trait", "true", "type", "unsafe", "use", "where",
    "while", "async", "await", "dyn", "abstract", "become", "box", "do", "final", "macro",
    "override", "priv", "typeof", "unsized", "virtual", "yield", "try",
}
# Protocols whose bodies are JSON: restJson1 (members bound to URI, query, headers or body) and
# awsJson1_0/1_1 (every member in the body, the operation named by X-Amz-Target).
JSON_PROTOCOLS = ("rest-json", "json")

# Shape names that would shadow a Rust prelude or squall-protocol name in generated code.
RESERVED_TYPE_NAMES = {"String", "Option", "Result", "Vec", "Box", "Timestamp", "Blob", "Default"}

PRIMITIVES = {
    "string": "String",
    "integer": "i32",
    "long": "i64",
    "boolean": "bool",
    "double": "f64",
    "float": "f32",
    "timestamp": "Timestamp",
    "blob": "Blob",
}


def load_models(version):
    os.makedirs(CACHE, exist_ok=True)
    wheel = os.path.join(CACHE, f"botocore-{version}-py3-none-any.whl")
    if not os.path.exists(wheel):
        subprocess.run(
            [sys.executable, "-m", "pip", "download", "-q", "--no-deps", f"botocore=={version}", "-d", CACHE],
            check=True,
        )
    return zipfile.ZipFile(wheel)


def read_model(wheel, path):
    name = f"botocore/data/{path}/service-2.json"
    for candidate in (name, name + ".gz"):
        try:
            data = wheel.read(candidate)
        except KeyError:
            continue
        return json.loads(gzip.decompress(data) if candidate.endswith(".gz") else data)
    raise SystemExit(f"model {path} not found in botocore wheel")


def snake(name):
    s = re.sub(r"([A-Z]+)([A-Z][a-z])", r"\1_\2", name)
    s = re.sub(r"([a-z0-9])([A-Z])", r"\1_\2", s)
    s = s.replace("-", "_").replace(".", "_").lower()
    if s in RUST_KEYWORDS:
        s = "r#" + s
    return s


def type_name(shape_name):
    n = shape_name[0].upper() + shape_name[1:]
    n = re.sub(r"[^A-Za-z0-9]", "", n)
    if n in RESERVED_TYPE_NAMES:
        n = n + "Shape"
    return n


def variant_name(value, taken):
    parts = re.split(r"[^A-Za-z0-9]+", value)
    # All-caps values (`SHA256`, `LINEAR`) become CamelCase like the rest.
    parts = [p.capitalize() if p.isupper() else p for p in parts]
    n = "".join(p[:1].upper() + p[1:] for p in parts if p)
    if not n:
        n = "Empty"
    if n[0].isdigit():
        n = "V" + n
    base, i = n, 2
    while n in taken:
        n = f"{base}{i}"
        i += 1
    taken.add(n)
    return n


class Generator:
    def __init__(self, name, spec, model, botocore_version):
        self.name = name
        self.spec = spec
        self.model = model
        self.shapes = model["shapes"]
        self.protocol = spec["protocol"]
        self.botocore_version = botocore_version
        self.decode = set()  # structures and enums that need a query decoder
        self.encode = set()  # structures and enums that need an XML encoder
        self.owner = {}  # shape -> set of resources using it

    # ---- reachability -------------------------------------------------------------------
    def walk(self, shape_name, acc):
        if shape_name in acc:
            return
        acc.add(shape_name)
        shape = self.shapes[shape_name]
        t = shape["type"]
        if t == "structure":
            for m in shape.get("members", {}).values():
                self.walk(m["shape"], acc)
        elif t == "list":
            self.walk(shape["member"]["shape"], acc)
        elif t == "map":
            if self.protocol not in JSON_PROTOCOLS:
                raise SystemExit(f"{self.name}: map shape {shape_name}: only rest-json services decode maps")
            self.walk(shape["key"]["shape"], acc)
            self.walk(shape["value"]["shape"], acc)

    def analyse(self):
        self.top_inputs = set()
        self.top_outputs = set()
        for resource, ops in self.spec["resources"].items():
            for op in ops:
                o = self.model["operations"][op]
                if "input" in o:
                    self.top_inputs.add(o["input"]["shape"])
                if "output" in o:
                    self.top_outputs.add(o["output"]["shape"])
                for direction, target in (("input", self.decode), ("output", self.encode)):
                    if direction in o:
                        acc = set()
                        self.walk(o[direction]["shape"], acc)
                        target.update(acc)
                        for s in acc:
                            self.owner.setdefault(s, set()).add(resource)

    def is_generated(self, shape_name):
        shape = self.shapes[shape_name]
        return shape["type"] == "structure" or (shape["type"] == "string" and "enum" in shape)

    # ---- types --------------------------------------------------------------------------
    def rust_type(self, shape_name):
        shape = self.shapes[shape_name]
        t = shape["type"]
        if t == "structure" or (t == "string" and "enum" in shape):
            return type_name(shape_name)
        if t == "list":
            return f"Vec<{self.rust_type(shape['member']['shape'])}>"
        if t == "map":
            if self.protocol not in JSON_PROTOCOLS:
                raise SystemExit(f"map shape {shape_name}: only rest-json services decode maps")
            return f"std::collections::BTreeMap<String, {self.rust_type(shape['value']['shape'])}>"
        return PRIMITIVES[t]

    def has_default(self, shape_name, seen=None):
        shape = self.shapes[shape_name]
        if shape["type"] == "string" and "enum" in shape:
            return False
        if shape["type"] != "structure":
            return True
        seen = seen or set()
        if shape_name in seen:
            return True
        seen.add(shape_name)
        for m in shape.get("required", []):
            if not self.has_default(shape["members"][m]["shape"], seen):
                return False
        return True

    # ---- wire names ---------------------------------------------------------------------
    def input_name(self, member_name, member):
        if self.protocol == "ec2":
            if "queryName" in member:
                return member["queryName"]
            if "locationName" in member:
                ln = member["locationName"]
                return ln[0].upper() + ln[1:]
            return member_name
        return member.get("locationName", member_name)

    def output_name(self, member_name, member):
        return member.get("locationName", member_name)

    def list_item_tag(self, list_shape):
        default = "item" if self.protocol == "ec2" else "member"
        return list_shape["member"].get("locationName", default)

    # ---- code ---------------------------------------------------------------------------
    def decode_expr(self, shape_name, key_expr):
        shape = self.shapes[shape_name]
        if shape["type"] == "list":
            inner = self.rust_type(shape["member"]["shape"])
            if self.protocol == "ec2" or shape.get("flattened"):
                return f"ec2_list::<{inner}>(q, &{key_expr})?"
            member = shape["member"].get("locationName", "member")
            return f'query_list::<{inner}>(q, &{key_expr}, "{member}")?'
        return f"{self.rust_type(shape_name)}::decode_query(q, &{key_expr})?"

    def encode_stmt(self, shape_name, value_expr, tag):
        shape = self.shapes[shape_name]
        if shape["type"] == "list":
            item = self.list_item_tag(shape)
            if shape.get("flattened"):
                return f'for item in {value_expr} {{ item.encode_xml(w, "{tag}"); }}'
            return f'encode_list(w, "{tag}", "{item}", {value_expr});'
        # `&self.x.encode_xml(..)` would borrow the call's result, not the field.
        receiver = f"({value_expr})" if value_expr.startswith("&") else value_expr
        return f'{receiver}.encode_xml(w, "{tag}");'

    def gen_struct(self, shape_name):
        if self.protocol in JSON_PROTOCOLS:
            return self.gen_rest_struct(shape_name)
        shape = self.shapes[shape_name]
        tn = type_name(shape_name)
        required = set(shape.get("required", []))
        members = shape.get("members", {})
        derives = ["Debug", "Clone", "PartialEq"]
        if self.has_default(shape_name):
            derives.append("Default")
        out = [f"/// Shape `{shape_name}` of the model.", f"#[derive({', '.join(derives)})]", f"pub struct {tn} {{"]
        for mn, m in members.items():
            rt = self.rust_type(m["shape"])
            if mn in required:
                out.append(f"    pub {snake(mn)}: {rt},")
            else:
                out.append(f"    pub {snake(mn)}: Option<{rt}>,")
        out.append("}")
        if shape_name in self.decode:
            out.append(f"impl {tn} {{")
            out.append("    /// Decodes the members of this structure found under `key` (\"\" for a request's root).")
            q = "q" if members else "_q"
            k = "key" if members else "_key"
            out.append(f"    pub fn decode_members({q}: &QueryParams, {k}: &str) -> Result<Self, ApiError> {{")
            out.append("        Ok(Self {")
            for mn, m in members.items():
                key_expr = f'join(key, "{self.input_name(mn, m)}")'
                expr = self.decode_expr(m["shape"], key_expr)
                if mn in required:
                    expr = f"required({expr}, &{key_expr})?"
                out.append(f"            {snake(mn)}: {expr},")
            out.append("        })")
            out.append("    }")
            out.append("}")
            out.append(f"impl QueryDecode for {tn} {{")
            out.append("    fn decode_query(q: &QueryParams, key: &str) -> Result<Option<Self>, ApiError> {")
            out.append("        if !q.has_prefix(key) { return Ok(None); }")
            out.append("        Self::decode_members(q, key).map(Some)")
            out.append("    }")
            out.append("}")
        if shape_name in self.encode:
            out.append(f"impl {tn} {{")
            out.append("    /// Writes the members of this structure as XML elements, without a wrapping element.")
            w = "w" if members else "_w"
            out.append(f"    pub fn encode_members(&self, {w}: &mut XmlWriter) {{")
            for mn, m in members.items():
                tag = self.output_name(mn, m)
                field = f"self.{snake(mn)}"
                if mn in required:
                    out.append("        " + self.encode_stmt(m["shape"], f"&{field}", tag))
                else:
                    out.append(f"        if let Some(v) = &{field} {{ {self.encode_stmt(m['shape'], 'v', tag)} }}")
            out.append("    }")
            out.append("}")
            out.append(f"impl XmlEncode for {tn} {{")
            out.append("    fn encode_xml(&self, w: &mut XmlWriter, tag: &str) {")
            out.append("        w.open(tag);")
            out.append("        self.encode_members(w);")
            out.append("        w.close(tag);")
            out.append("    }")
            out.append("}")
        return "\n".join(out)

    def json_name(self, member_name, member):
        return member.get("jsonName", member.get("locationName", member_name))

    def struct_header(self, shape_name):
        shape = self.shapes[shape_name]
        tn = type_name(shape_name)
        required = set(shape.get("required", []))
        derives = ["Debug", "Clone", "PartialEq"]
        if self.has_default(shape_name):
            derives.append("Default")
        out = [f"/// Shape `{shape_name}` of the model.", f"#[derive({', '.join(derives)})]", f"pub struct {tn} {{"]
        for mn, m in shape.get("members", {}).items():
            rt = self.rust_type(m["shape"])
            out.append(f"    pub {snake(mn)}: {rt}," if mn in required else f"    pub {snake(mn)}: Option<{rt}>,")
        out.append("}")
        return out

    def gen_rest_struct(self, shape_name):
        shape = self.shapes[shape_name]
        tn = type_name(shape_name)
        required = set(shape.get("required", []))
        members = shape.get("members", {})
        payload = shape.get("payload")
        out = self.struct_header(shape_name)
        body_members = {mn: m for mn, m in members.items() if "location" not in m and mn != payload}
        if shape_name in self.decode:
            if shape_name in self.top_inputs:
                out.append(f"impl {tn} {{")
                out.append("    /// Decodes a request: members bound to the URI, query string, headers, payload and JSON body.")
                r = "req" if members else "_req"
                out.append(f"    pub fn decode_rest({r}: &RestRequest) -> Result<Self, ApiError> {{")
                if body_members:
                    out.append("        let body = req.json_body()?;")
                out.append("        Ok(Self {")
                for mn, m in members.items():
                    loc = m.get("location")
                    name = m.get("locationName", mn)
                    rt = self.rust_type(m["shape"])
                    if loc == "uri":
                        expr = f'text_member::<{rt}>(req.path_params.get("{name}").map(String::as_str), "{name}")?'
                    elif loc == "querystring" and self.shapes[m["shape"]]["type"] == "list":
                        expr = f'req.query.get_all("{name}")'
                    elif loc == "querystring":
                        expr = f'text_member::<{rt}>(req.query.get("{name}"), "{name}")?'
                    elif loc == "header":
                        expr = f'text_member::<{rt}>(req.header("{name}"), "{name}")?'
                    elif mn == payload:
                        expr = "Some(Blob(req.body.clone()))"
                    else:
                        expr = f'json_member::<{rt}>(&body, "{self.json_name(mn, m)}")?'
                    if mn in required:
                        expr = f'required_rest({expr}, "{name}")?'
                    out.append(f"            {snake(mn)}: {expr},")
                out.append("        })")
                out.append("    }")
                out.append("}")
            else:
                out.append(f"impl JsonDecode for {tn} {{")
                v = "v" if members else "_v"
                out.append(f"    fn decode_json({v}: &serde_json::Value, name: &str) -> Result<Self, ApiError> {{")
                out.append("        if !v.is_object() { return Err(ApiError::client(\"ValidationException\", format!(\"{name} must be an object\")).with_reason(\"INVALID_PARAMETER_VALUE\")); }" if members else "        let _ = name;")
                out.append("        Ok(Self {")
                for mn, m in members.items():
                    rt = self.rust_type(m["shape"])
                    expr = f'json_member::<{rt}>(v, "{self.json_name(mn, m)}")?'
                    if mn in required:
                        expr = f'required_rest({expr}, "{self.json_name(mn, m)}")?'
                    out.append(f"            {snake(mn)}: {expr},")
                out.append("        })")
                out.append("    }")
                out.append("}")
        if shape_name in self.encode:
            def value_expr(mn, m, var):
                return var
            if shape_name in self.top_outputs:
                out.append(f"impl {tn} {{")
                out.append("    /// Encodes a response: header-bound members as headers, the payload or a JSON body.")
                out.append("    pub fn encode_rest(&self) -> RestResponse {")
                out.append("        let mut r = RestResponse { content_type: \"application/json\", ..RestResponse::default() };")
                for mn, m in members.items():
                    if m.get("location") == "header":
                        name = m.get("locationName", mn)
                        get = f"self.{snake(mn)}"
                        if mn in required:
                            out.append(f'        r.headers.push(("{name}", {get}.to_header()));')
                        else:
                            out.append(f'        if let Some(v) = &{get} {{ r.headers.push(("{name}", v.to_header())); }}')
                if payload:
                    out.append(f"        if let Some(v) = &self.{snake(payload)} {{ r.body = v.0.clone(); }}")
                    out.append('        r.content_type = "application/octet-stream";')
                else:
                    out.append("        let mut object = serde_json::Map::new();" if body_members else "        let object = serde_json::Map::new();")
                    for mn, m in body_members.items():
                        key = self.json_name(mn, m)
                        get = f"self.{snake(mn)}"
                        if mn in required:
                            out.append(f'        object.insert("{key}".to_string(), {get}.encode_json());')
                        else:
                            out.append(f'        if let Some(v) = &{get} {{ object.insert("{key}".to_string(), v.encode_json()); }}')
                    out.append("        r.body = serde_json::Value::Object(object).to_string().into_bytes();")
                out.append("        r")
                out.append("    }")
                out.append("}")
            else:
                out.append(f"impl JsonEncode for {tn} {{")
                out.append("    fn encode_json(&self) -> serde_json::Value {")
                out.append("        let mut object = serde_json::Map::new();" if members else "        let object = serde_json::Map::new();")
                for mn, m in members.items():
                    key = self.json_name(mn, m)
                    get = f"self.{snake(mn)}"
                    if mn in required:
                        out.append(f'        object.insert("{key}".to_string(), {get}.encode_json());')
                    else:
                        out.append(f'        if let Some(v) = &{get} {{ object.insert("{key}".to_string(), v.encode_json()); }}')
                out.append("        serde_json::Value::Object(object)")
                out.append("    }")
                out.append("}")
        return "\n".join(out)

    def gen_enum(self, shape_name):
        shape = self.shapes[shape_name]
        tn = type_name(shape_name)
        taken = set()
        # Values AWS answers that the model's enum lacks (services.json `enum_extra`).
        extra = [v for v in self.spec.get("enum_extra", {}).get(shape_name, []) if v not in shape["enum"]]
        variants = [(variant_name(v, taken), v) for v in shape["enum"] + extra]
        out = [f"/// Enum `{shape_name}` of the model.", "#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]", f"pub enum {tn} {{"]
        for vn, v in variants:
            out.append(f"    /// `{v}`")
            out.append(f"    {vn},")
        out.append("}")
        out.append(f"impl {tn} {{")
        out.append("    /// Every value the model allows, in the model's order.")
        out.append(f"    pub const ALL: &'static [Self] = &[{', '.join('Self::' + vn for vn, _ in variants)}];")
        out.append("    /// The value as it appears on the wire.")
        out.append("    pub const fn as_str(&self) -> &'static str {")
        out.append("        match self {")
        for vn, v in variants:
            out.append(f'            Self::{vn} => "{v}",')
        out.append("        }")
        out.append("    }")
        out.append("    /// Parses a wire value; `None` for a value the model does not list.")
        out.append("    pub fn from_wire(value: &str) -> Option<Self> {")
        out.append("        Self::ALL.iter().copied().find(|v| v.as_str() == value)")
        out.append("    }")
        out.append("}")
        if self.protocol in JSON_PROTOCOLS:
            out.append(f"impl TextDecode for {tn} {{")
            out.append("    fn decode_text(raw: &str, name: &str) -> Result<Self, ApiError> {")
            out.append("        Self::from_wire(raw).ok_or_else(|| ApiError::client(\"ValidationException\", format!(\"Invalid value '{raw}' for {name}.\")).with_reason(\"INVALID_PARAMETER_VALUE\"))")
            out.append("    }")
            out.append("}")
            out.append(f"impl JsonDecode for {tn} {{")
            out.append("    fn decode_json(v: &serde_json::Value, name: &str) -> Result<Self, ApiError> {")
            out.append("        Self::decode_text(&String::decode_json(v, name)?, name)")
            out.append("    }")
            out.append("}")
            out.append(f"impl JsonEncode for {tn} {{")
            out.append("    fn encode_json(&self) -> serde_json::Value { serde_json::Value::from(self.as_str()) }")
            out.append("}")
            out.append(f"impl ToHeader for {tn} {{")
            out.append("    fn to_header(&self) -> String { self.as_str().to_string() }")
            out.append("}")
            return "\n".join(out)
        if shape_name in self.decode:
            out.append(f"impl QueryDecode for {tn} {{")
            out.append("    fn decode_query(q: &QueryParams, key: &str) -> Result<Option<Self>, ApiError> {")
            out.append("        decode_enum(q, key, Self::from_wire)")
            out.append("    }")
            out.append("}")
        if shape_name in self.encode:
            out.append(f"impl XmlEncode for {tn} {{")
            out.append("    fn encode_xml(&self, w: &mut XmlWriter, tag: &str) {")
            out.append("        w.text_element(tag, self.as_str());")
            out.append("    }")
            out.append("}")
        return "\n".join(out)

    def header(self, what):
        return (
            f"// @generated by tools/codegen/gen.py from botocore {self.botocore_version}, model "
            f"`{self.spec['model']}` ({what}).\n"
            "// Do not edit: change tools/codegen/services.json or the generator and run\n"
            "// `python3 tools/codegen/gen.py`.\n"
        )

    def prelude(self):
        if self.protocol in JSON_PROTOCOLS:
            return (
                "#![allow(clippy::all, unused_imports)]\n"
                "use squall_protocol::rest::*;\n"
                "use squall_protocol::{ApiError, Blob, Timestamp};\n"
            )
        return (
            "#![allow(clippy::all, unused_imports)]\n"
            "use squall_protocol::codec::*;\n"
            "use squall_protocol::{join, ApiError, Blob, QueryParams, Timestamp, XmlWriter};\n"
        )

    def files(self):
        self.analyse()
        generated = sorted(s for s in self.owner if self.is_generated(s))
        by_file = {}
        for s in generated:
            owners = self.owner[s]
            f = next(iter(owners)) if len(owners) == 1 else "common"
            by_file.setdefault(f, []).append(s)
        files = {}
        resources = list(self.spec["resources"])
        for f in (["common"] if "common" in by_file else []) + resources:
            parts = [self.header(f"shapes of `{f}`"), self.prelude()]
            if f != "common" and "common" in by_file:
                parts.append("use super::common::*;\n")
            for s in by_file.get(f, []):
                shape = self.shapes[s]
                parts.append(self.gen_struct(s) if shape["type"] == "structure" else self.gen_enum(s))
            files[f"{f}.rs"] = "\n".join(parts) + "\n"
        files["mod.rs"] = self.gen_mod(resources, "common" in by_file)
        if self.spec.get("conversions"):
            files["conversions.rs"] = self.gen_conversions()
            files["mod.rs"] += "pub mod conversions;\n"
        return files

    # ---- conversions --------------------------------------------------------------------
    def convert_expr(self, src_shape, dst_shape, var, pending):
        """Rust expression turning `var` (a reference to a `src_shape` value) into `dst_shape`;
        None when the two cannot be matched member by member."""
        if src_shape == dst_shape:
            return f"{var}.clone()"
        a, b = self.shapes[src_shape], self.shapes[dst_shape]
        if a["type"] != b["type"]:
            return None
        t = a["type"]
        if t == "structure":
            pending.append((src_shape, dst_shape))
            return f"{type_name(dst_shape)}::from({var})"
        if t == "list":
            inner = self.convert_expr(a["member"]["shape"], b["member"]["shape"], "v", pending)
            return None if inner is None else f"{var}.iter().map(|v| {inner}).collect()"
        if t == "string" and ("enum" in a) == ("enum" in b) and "enum" not in a:
            return f"{var}.clone()"
        if t != "string" and PRIMITIVES.get(t) is not None:
            return f"{var}.clone()"
        return None

    def gen_conversions(self):
        out = [self.header("conversions between request and response shapes"), "#![allow(clippy::all)]",
               "use super::*;"]
        pending = [tuple(pair) for pair in self.spec["conversions"]]
        done = set()
        while pending:
            src, dst = pending.pop(0)
            if (src, dst) in done:
                continue
            done.add((src, dst))
            a, b = self.shapes[src], self.shapes[dst]
            a_req, b_req = set(a.get("required", [])), set(b.get("required", []))
            a_members = a.get("members", {})
            out.append(f"/// `{src}` as `{dst}`: the members they share, member by member.")
            out.append(f"impl From<&{type_name(src)}> for {type_name(dst)} {{")
            out.append(f"    fn from(s: &{type_name(src)}) -> Self {{")
            out.append("        Self {")
            for mn, m in b.get("members", {}).items():
                field = snake(mn)
                src_m = a_members.get(mn)
                expr = None
                if src_m is not None:
                    expr = self.convert_expr(src_m["shape"], m["shape"], "v", pending)
                if expr is None:
                    out.append(f"            {field}: Default::default(),")
                    continue
                src_opt, dst_opt = mn not in a_req, mn not in b_req
                if src_opt and dst_opt:
                    out.append(f"            {field}: s.{field}.as_ref().map(|v| {expr}),")
                elif not src_opt and dst_opt:
                    out.append(f"            {field}: Some({{ let v = &s.{field}; {expr} }}),")
                elif src_opt and not dst_opt:
                    out.append(f"            {field}: s.{field}.as_ref().map(|v| {expr}).unwrap_or_default(),")
                else:
                    out.append(f"            {field}: {{ let v = &s.{field}; {expr} }},")
            out.append("        }")
            out.append("    }")
            out.append("}")
        return "\n".join(out) + "\n"

    def gen_rest_mod(self, resources, has_common):
        ops = [(r, op) for r in resources for op in self.spec["resources"][r]]
        out = [self.header("operations"), "#![allow(clippy::all)]"]
        for m in (["common"] if has_common else []) + resources:
            out.append(f"pub mod {m};")
            out.append(f"pub use {m}::*;")
        out.append("use squall_protocol::rest::{match_uri, RestRequest, RestResponse};")
        out.append("use squall_protocol::ApiError;")
        out.append("use std::collections::BTreeMap;")
        all_ops = sorted(self.model["operations"])
        out.append("/// Every operation of the model, implemented by squall or not (sorted).")
        out.append("pub const MODEL_OPERATIONS: &[&str] = &[" + ", ".join(f'"{o}"' for o in all_ops) + "];")
        out.append("/// (operation, HTTP method, URI template) of every operation of the model.")
        out.append("pub const ROUTES: &[(&str, &str, &str)] = &[" + ", ".join(
            f'("{o}", "{self.model["operations"][o]["http"]["method"]}", "{self.model["operations"][o]["http"]["requestUri"]}")' for o in all_ops) + "];")
        out.append("/// Finds the model operation of a method and path, with its URI labels.")
        out.append("pub fn route(method: &str, path: &str) -> Option<(&'static str, BTreeMap<String, String>)> {")
        out.append("    ROUTES.iter().filter(|(_, m, _)| *m == method).find_map(|(op, _, uri)| match_uri(uri, path).map(|p| (*op, p)))")
        out.append("}")
        out.extend(self.json_request_and_response_enums(ops))
        out.append("impl Response {")
        out.append("    /// The HTTP status the model gives the operation's success, and the encoded answer.")
        out.append("    pub fn encode(&self) -> (u16, RestResponse) {")
        out.append("        match self {")
        for _, op in ops:
            code = self.model['operations'][op]['http'].get('responseCode', 200)
            out.append(f"            Self::{op}(v) => ({code}, v.encode_rest()),")
        out.append("        }")
        out.append("    }")
        out.append("}")
        return "\n".join(out) + "\n"

    def json_request_and_response_enums(self, ops):
        """The `Request` enum with its `decode` and the `Response` enum, for the JSON protocols
        (restJson1 and awsJson): every implemented operation decodes with `decode_rest`."""
        out = ["/// A decoded request of one implemented operation.", "#[derive(Debug, Clone, PartialEq)]", "pub enum Request {"]
        for _, op in ops:
            out.append(f"    {op}({type_name(self.model['operations'][op]['input']['shape'])}),")
        out.append("}")
        out.append("impl Request {")
        out.append("    /// Decodes the request of `operation`; `None` when squall does not implement it.")
        out.append("    pub fn decode(operation: &str, req: &RestRequest) -> Option<Result<Self, ApiError>> {")
        out.append("        Some(match operation {")
        for _, op in ops:
            it = type_name(self.model['operations'][op]['input']['shape'])
            out.append(f'            "{op}" => {it}::decode_rest(req).map(Self::{op}),')
        out.append("            _ => return None,")
        out.append("        })")
        out.append("    }")
        out.append("}")
        out.append("/// The result of one implemented operation.")
        out.append("#[derive(Debug, Clone, PartialEq)]")
        out.append("pub enum Response {")
        for _, op in ops:
            o = self.model["operations"][op]
            inner = type_name(o["output"]["shape"]) if "output" in o else "()"
            out.append(f"    {op}({inner}),")
        out.append("}")
        return out

    def gen_json_mod(self, resources, has_common):
        ops = [(r, op) for r in resources for op in self.spec["resources"][r]]
        out = [self.header("operations"), "#![allow(clippy::all)]"]
        for m in (["common"] if has_common else []) + resources:
            out.append(f"pub mod {m};")
            out.append(f"pub use {m}::*;")
        out.append("use squall_protocol::rest::{RestRequest, RestResponse};")
        out.append("use squall_protocol::ApiError;")
        meta = self.model["metadata"]
        all_ops = sorted(self.model["operations"])
        out.append(f'/// The prefix of `X-Amz-Target` (`{meta["targetPrefix"]}.GetSecretValue`).')
        out.append(f'pub const TARGET_PREFIX: &str = "{meta["targetPrefix"]}";')
        out.append(f'/// The JSON version of the protocol (`application/x-amz-json-{meta["jsonVersion"]}`).')
        out.append(f'pub const CONTENT_TYPE: &str = "application/x-amz-json-{meta["jsonVersion"]}";')
        out.append("/// Every operation of the model, implemented by squall or not (sorted).")
        out.append("pub const MODEL_OPERATIONS: &[&str] = &[" + ", ".join(f'"{o}"' for o in all_ops) + "];")
        out.append("/// The operations squall implements (the allow-list in tools/codegen/services.json).")
        out.append("pub const IMPLEMENTED_OPERATIONS: &[&str] = &[" + ", ".join(f'"{op}"' for _, op in ops) + "];")
        out.append("/// The model operation an `X-Amz-Target` names.")
        out.append("pub fn operation_of_target(target: &str) -> Option<&'static str> {")
        out.append("    let op = target.strip_prefix(TARGET_PREFIX)?.strip_prefix('.')?;")
        out.append("    MODEL_OPERATIONS.iter().copied().find(|o| *o == op)")
        out.append("}")
        out.extend(self.json_request_and_response_enums(ops))
        out.append("impl Response {")
        out.append("    /// The encoded answer (status 200, the protocol's content type).")
        out.append("    pub fn encode(&self) -> RestResponse {")
        out.append("        let mut r = match self {")
        for _, op in ops:
            if "output" in self.model["operations"][op]:
                out.append(f"            Self::{op}(v) => v.encode_rest(),")
            else:
                out.append(f'            Self::{op}(()) => RestResponse {{ body: b"{{}}".to_vec(), ..RestResponse::default() }},')
        out.append("        };")
        out.append("        r.content_type = CONTENT_TYPE;")
        out.append("        r")
        out.append("    }")
        out.append("}")
        return "\n".join(out) + "\n"

    def gen_mod(self, resources, has_common):
        if self.protocol == "json":
            return self.gen_json_mod(resources, has_common)
        if self.protocol in JSON_PROTOCOLS:
            return self.gen_rest_mod(resources, has_common)
        ops = [(r, op) for r in resources for op in self.spec["resources"][r]]
        meta = self.model["metadata"]
        ns = meta.get("xmlNamespace", "")
        if ns and not ns.endswith("/"):
            ns += "/"  # real responses carry the trailing slash the model lacks
        out = [self.header("operations"), "#![allow(clippy::all)]"]
        mods = (["common"] if has_common else []) + resources
        for m in mods:
            out.append(f"pub mod {m};")
            out.append(f"pub use {m}::*;")
        out.append("use squall_protocol::{ApiError, QueryParams, XmlWriter};")
        out.append(f'/// The API version this model speaks (`Version=` on the wire).\npub const API_VERSION: &str = "{meta["apiVersion"]}";')
        out.append(f'/// XML namespace of every response.\npub const XML_NAMESPACE: &str = "{ns}";')
        all_ops = sorted(self.model["operations"])
        out.append("/// Every operation of the model, implemented by squall or not (sorted).")
        out.append("pub const MODEL_OPERATIONS: &[&str] = &[" + ", ".join(f'"{o}"' for o in all_ops) + "];")
        out.append("/// The operations squall implements (the allow-list in tools/codegen/services.json).")
        out.append("pub const IMPLEMENTED_OPERATIONS: &[&str] = &[" + ", ".join(f'"{op}"' for _, op in ops) + "];")
        # Request enum
        out.append("/// A decoded request of one implemented operation.")
        out.append("#[derive(Debug, Clone, PartialEq)]")
        out.append("pub enum Request {")
        for _, op in ops:
            o = self.model["operations"][op]
            inner = type_name(o["input"]["shape"]) if "input" in o else "()"
            out.append(f"    {op}({inner}),")
        out.append("}")
        out.append("impl Request {")
        out.append("    /// Decodes the parameters of `action`; `None` when squall does not implement it.")
        out.append("    pub fn decode(action: &str, q: &QueryParams) -> Option<Result<Self, ApiError>> {")
        out.append("        Some(match action {")
        for _, op in ops:
            o = self.model["operations"][op]
            if "input" in o:
                out.append(f'            "{op}" => {type_name(o["input"]["shape"])}::decode_members(q, "").map(Self::{op}),')
            else:
                out.append(f'            "{op}" => Ok(Self::{op}(())),')
        out.append("            _ => return None,")
        out.append("        })")
        out.append("    }")
        out.append("    /// The operation's name.")
        out.append("    pub fn action(&self) -> &'static str {")
        out.append("        match self {")
        for _, op in ops:
            out.append(f'            Self::{op}(_) => "{op}",')
        out.append("        }")
        out.append("    }")
        out.append("}")
        # Response enum
        out.append("/// The result of one implemented operation.")
        out.append("#[derive(Debug, Clone, PartialEq)]")
        out.append("pub enum Response {")
        for _, op in ops:
            o = self.model["operations"][op]
            inner = type_name(o["output"]["shape"]) if "output" in o else "()"
            out.append(f"    {op}({inner}),")
        out.append("}")
        out.append("impl Response {")
        out.append("    /// The operation's name.")
        out.append("    pub fn action(&self) -> &'static str {")
        out.append("        match self {")
        for _, op in ops:
            out.append(f'            Self::{op}(_) => "{op}",')
        out.append("        }")
        out.append("    }")
        out.append("    /// Writes the output members (inside the protocol's envelope); `false` when the")
        out.append("    /// operation has no output shape.")
        out.append("    pub fn encode_members(&self, w: &mut XmlWriter) -> bool {")
        out.append("        match self {")
        for _, op in ops:
            o = self.model["operations"][op]
            if "output" in o:
                out.append(f"            Self::{op}(v) => {{ v.encode_members(w); true }}")
            else:
                out.append(f"            Self::{op}(()) => false,")
        out.append("        }")
        out.append("    }")
        out.append("}")
        return "\n".join(out) + "\n"


def rustfmt(paths):
    subprocess.run(["rustfmt", "--edition", "2021", "--config-path", os.path.join(ROOT, "rustfmt.toml"), *paths], check=True)


def generate(into_root):
    config = json.load(open(CONFIG))
    wheel = load_models(config["botocore"])
    written = []
    for name, spec in config["services"].items():
        model = read_model(wheel, spec["model"])
        gen = Generator(name, spec, model, config["botocore"])
        out_dir = os.path.join(into_root, spec["crate"], "src", "generated")
        os.makedirs(out_dir, exist_ok=True)
        for old in glob.glob(os.path.join(out_dir, "*.rs")):
            os.remove(old)
        for fname, text in gen.files().items():
            path = os.path.join(out_dir, fname)
            with open(path, "w") as f:
                f.write(text)
            written.append(path)
    rustfmt(written)
    return config


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--check", action="store_true")
    args = ap.parse_args()
    if not args.check:
        generate(ROOT)
        return
    with tempfile.TemporaryDirectory() as tmp:
        config = generate(tmp)
        failed = False
        for spec in config["services"].values():
            rel = os.path.join(spec["crate"], "src", "generated")
            new = {os.path.basename(p): open(p).read() for p in glob.glob(os.path.join(tmp, rel, "*.rs"))}
            old = {os.path.basename(p): open(p).read() for p in glob.glob(os.path.join(ROOT, rel, "*.rs"))}
            for fname in sorted(set(new) | set(old)):
                if new.get(fname) != old.get(fname):
                    failed = True
                    diff = difflib.unified_diff(
                        old.get(fname, "").splitlines(), new.get(fname, "").splitlines(),
                        f"checked-in/{rel}/{fname}", f"regenerated/{rel}/{fname}", lineterm="", n=1)
                    print("\n".join(list(diff)[:40]))
        if failed:
            print("generated code is stale: run `python3 tools/codegen/gen.py` and commit the result")
            sys.exit(1)
        print("generated code is up to date")


if __name__ == "__main__":
    main()
