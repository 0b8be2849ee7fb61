//! Checks our `/api/v2.0` answers against Harbor's own Swagger 2.0 document, so that a Harbor
//! client or script relying on Harbor's documented shapes works unchanged against us.
//!
//! The document is `shared/harbor/swagger-v2.15.2.yaml`, read at test time and never copied.

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use serde_json::Value;

const FILE_NAME: &str = "swagger-v2.15.2.yaml";
/// A longer `$ref` chain than this can only be a cycle in the document.
const MAX_REF_HOPS: usize = 32;

/// An answer's headers as (name, value) pairs.
type Headers = [(String, String)];

/// Harbor's swagger, parsed once per test binary.
///
/// Panics when the document cannot be found or parsed: the API tests require it.
pub fn harbor() -> &'static Swagger {
    static HARBOR: OnceLock<Swagger> = OnceLock::new();
    HARBOR.get_or_init(|| {
        let path = locate();
        let text = std::fs::read_to_string(&path).map_err(|e| e.to_string());
        let parsed = text.and_then(|text| Swagger::parse(&text));
        parsed.unwrap_or_else(|e| panic!("cannot load Harbor's swagger {}: {e}", path.display()))
    })
}

/// `HARBOR_SWAGGER`, else `<ancestor>/shared/harbor/<FILE_NAME>` for the nearest ancestor of
/// the crate that has it (the project's clones sit beside `shared/`).
fn locate() -> PathBuf {
    if let Some(path) = std::env::var_os("HARBOR_SWAGGER") {
        return PathBuf::from(path);
    }
    // Beside the clone (`../shared`), at any depth; then the workplace's
    // own copy, for a clone made elsewhere (a scratch directory, CI's).
    let tried: Vec<PathBuf> = Path::new(env!("CARGO_MANIFEST_DIR"))
        .ancestors()
        .map(|dir| dir.join("shared").join("harbor").join(FILE_NAME))
        .chain(std::iter::once(
            Path::new("/work/shared/harbor").join(FILE_NAME),
        ))
        .collect();
    if let Some(found) = tried.iter().find(|p| p.is_file()) {
        return found.clone();
    }
    let list: Vec<String> = tried.iter().map(|p| format!("  {}", p.display())).collect();
    panic!(
        "Harbor's swagger document {FILE_NAME} is required by the API tests and was not found. \
         HARBOR_SWAGGER is not set, and none of these exist:\n{}",
        list.join("\n")
    );
}

/// Harbor's Swagger 2.0 document, with its path templates split for matching.
pub struct Swagger {
    doc: Value,
    base_path: String,
    routes: Vec<Route>,
}

struct Route {
    /// The key under `paths`, e.g. `/users/{user_id}`.
    template: String,
    /// One entry per segment: `Some(literal)`, or `None` for a `{parameter}`.
    segments: Vec<Option<String>>,
}

impl Route {
    fn matches(&self, segments: &[&str]) -> bool {
        let mut pairs = self.segments.iter().zip(segments);
        self.segments.len() == segments.len()
            && pairs.all(|(want, got)| match want {
                Some(literal) => literal == got,
                None => !got.is_empty(),
            })
    }

    /// Literal segments are `true`, so they rank above parameters.
    fn rank(&self) -> Vec<bool> {
        self.segments.iter().map(Option::is_some).collect()
    }
}

impl Swagger {
    fn parse(text: &str) -> Result<Self, String> {
        let doc: Value = serde_norway::from_str(text).map_err(|e| e.to_string())?;
        let base_path = doc["basePath"].as_str().unwrap_or("");
        let base_path = base_path.trim_end_matches('/').to_owned();
        let paths = doc["paths"].as_object().ok_or("no `paths` object")?;
        let literal = |s: &str| (!(s.starts_with('{') && s.ends_with('}'))).then(|| s.to_owned());
        let routes = paths
            .keys()
            .map(|template| Route {
                template: template.clone(),
                segments: split_path(template).into_iter().map(literal).collect(),
            })
            .collect();
        Ok(Self {
            doc,
            base_path,
            routes,
        })
    }

    /// Whether Harbor documents this method and path at all (the query is ignored).
    pub fn documents(&self, method: &str, path: &str) -> bool {
        self.operation(method, path).is_some()
    }

    /// Checks one answer against the operation Harbor documents for `method` and `path`.
    ///
    /// `path` may carry a query; `headers` are (name, value) pairs, names in any case. Every
    /// problem found is returned, each as `METHOD path status: where: what`, where `where` is
    /// `header X` or a JSON path into the body such as `body[0].metadata.public`.
    pub fn check(
        &self,
        method: &str,
        path: &str,
        status: u16,
        headers: &[(String, String)],
        body: &[u8],
    ) -> Result<(), Vec<String>> {
        let at = |problem: String| format!("{method} {path} {status}: {problem}");
        let Some((template, op)) = self.operation(method, path) else {
            return Err(vec![at(
                "Harbor's swagger documents no such operation".to_owned()
            )]);
        };
        let responses = &op["responses"];
        let documented = responses.get(status.to_string());
        // Harbor defines its error answers once, in the top-level `responses`
        // section, and its error middleware gives them for any operation
        // (a missing project is a 404 wherever it is named, a name taken a
        // 409), though many operations list only some. An error status the
        // operation leaves out is checked against that shared definition:
        // status, headers and the `Errors` body.
        let shared = (status >= 400)
            .then(|| self.doc["responses"].get(status.to_string()))
            .flatten();
        let Some(response) = documented.or(responses.get("default")).or(shared) else {
            let listed = keys(responses).collect::<Vec<_>>().join(", ");
            let method = method.to_ascii_uppercase();
            let problem = format!("status {status} is not documented for {method} {template}");
            return Err(vec![at(format!("{problem} (documented: {listed})"))]);
        };
        let mut out = Vec::new();
        match self.deref(response) {
            Err(e) => out.push(e),
            Ok((response, _)) => {
                let request_id = self.takes_request_id(&self.doc["paths"][template], op);
                check_headers(response, request_id, headers, &mut out);
                if !method.eq_ignore_ascii_case("HEAD") {
                    self.check_body(response, headers, body, &mut out);
                }
            }
        }
        if out.is_empty() {
            return Ok(());
        }
        Err(out.into_iter().map(at).collect())
    }

    /// The `paths` template and operation object for a request, if Harbor documents it.
    fn operation(&self, method: &str, path: &str) -> Option<(&str, &Value)> {
        let path = path.split(['?', '#']).next().unwrap_or(path);
        let rest = path.strip_prefix(self.base_path.as_str())?;
        if !rest.starts_with('/') {
            return None;
        }
        let segments = split_path(rest);
        let method = method.to_ascii_lowercase();
        // Filter by method first: Harbor's router is per method, so a literal template lacking
        // this method must not shadow a parameter one that has it. Then a literal segment beats
        // a parameter at the first place they differ (`/users/current` over `/users/{user_id}`).
        self.routes
            .iter()
            .filter(|route| route.matches(&segments))
            .filter_map(|route| Some((route, self.doc["paths"][&route.template].get(&method)?)))
            .max_by_key(|(route, _)| route.rank())
            .map(|(route, op)| (route.template.as_str(), op))
    }

    /// Follows `$ref`s (`#/definitions/..`, `#/responses/..`, ...) to the object they name,
    /// and says whether any hop was marked nullable: go-swagger honours `x-nullable` next to
    /// a `$ref`, and Harbor relies on that (e.g. `GeneralInfo.authproxy_settings`).
    fn deref<'a>(&'a self, mut value: &'a Value) -> Result<(&'a Value, bool), String> {
        let mut nullable = is_nullable(value);
        for _ in 0..MAX_REF_HOPS {
            let Some(reference) = value.get("$ref").and_then(Value::as_str) else {
                return Ok((value, nullable));
            };
            let target = self.doc.pointer(reference.trim_start_matches('#'));
            value = target.ok_or_else(|| format!("$ref {reference} is not in Harbor's swagger"))?;
            nullable |= is_nullable(value);
        }
        Err("$ref cycle in Harbor's swagger".to_owned())
    }

    /// Every operation takes `X-Request-Id` (`#/parameters/requestId`) and Harbor's middleware
    /// echoes it (or a fresh UUID) on every answer, but 160 of the document's 1037 responses
    /// (e.g. GET /projects 200) forget to list it: so it is required from the parameter too.
    fn takes_request_id(&self, path_item: &Value, op: &Value) -> bool {
        let params = [list(path_item, "parameters"), list(op, "parameters")].concat();
        params
            .iter()
            .filter_map(|p| self.deref(p).ok())
            .any(|(p, _)| p["in"] == "header" && p["name"].as_str().is_some_and(is_request_id))
    }

    fn check_body(&self, response: &Value, headers: &Headers, body: &[u8], out: &mut Vec<String>) {
        let Some(schema) = response.get("schema") else {
            return; // no documented body: anything, or nothing, will do
        };
        let top = match self.deref(schema) {
            Ok((top, _)) => top,
            Err(e) => return out.push(format!("body: {e}")),
        };
        // Harbor documents raw payloads (logs, `/ping`'s "Pong", the CA certificate, CSV
        // exports and the pass-through `additions/*` documents) as `type: string` or `file`;
        // their bytes are not a JSON value and have no shape to check.
        if matches!(top["type"].as_str(), Some("string" | "file")) {
            return;
        }
        if body.is_empty() {
            return out.push("body: empty, but Harbor documents a JSON body".to_owned());
        }
        // Harbor's go-swagger clients pick their decoder by Content-Type.
        let content_type = header_values(headers, "content-type").next().unwrap_or("");
        let media = content_type.split(';').next().unwrap_or("");
        let media = media.trim().to_ascii_lowercase();
        if media != "application/json" && !media.ends_with("+json") {
            out.push(format!(
                "header Content-Type: {content_type:?} for a JSON body"
            ));
        }
        match serde_json::from_slice::<Value>(body) {
            Ok(value) => self.validate(schema, &value, "body", out),
            Err(e) => out.push(format!("body: not JSON ({e})")),
        }
    }

    /// Validates `value` against `schema`. Refs are resolved per value, so a recursive
    /// definition recurses only as deep as the value itself.
    fn validate(&self, schema: &Value, value: &Value, at: &str, out: &mut Vec<String>) {
        let typed = schema.get("$ref").is_some() || schema.get("type").is_some();
        let (schema, nullable) = match self.deref(schema) {
            Ok(resolved) => resolved,
            Err(e) => return out.push(format!("{at}: {e}")),
        };
        if value.is_null() {
            // Swagger 2.0 has no null type: a null is only fine where Harbor marks the schema
            // nullable, or where it gives no type at all (e.g. `ReplicationFilter.value`).
            if typed && !nullable {
                let expected = schema["type"].as_str().unwrap_or("a value");
                let problem = "null where Harbor's schema allows none";
                out.push(format!("{at}: {problem} ({expected})"));
            }
            return;
        }
        for part in list(schema, "allOf") {
            self.validate(part, value, at, out);
        }
        if let Some(expected) = schema["type"].as_str() {
            if !type_matches(expected, value) {
                return out.push(format!("{at}: expected {expected}, got {}", kind(value)));
            }
        }
        let allowed = list(schema, "enum");
        if !allowed.is_empty() && !allowed.contains(value) {
            out.push(format!("{at}: {value} is not one of {}", schema["enum"]));
        }
        if let Some(format) = schema["format"].as_str() {
            if !format_fits(format, value) {
                out.push(format!("{at}: {value} does not fit format {format}"));
            }
        }
        match value {
            Value::Object(object) => {
                let properties = schema.get("properties").and_then(Value::as_object);
                for (name, sub) in properties.into_iter().flatten() {
                    if let Some(field) = object.get(name) {
                        self.validate(sub, field, &format!("{at}.{name}"), out);
                    }
                }
                for name in list(schema, "required").iter().filter_map(Value::as_str) {
                    if !object.contains_key(name) {
                        out.push(format!("{at}: missing required property {name}"));
                    }
                }
                // Fields Harbor does not document are allowed (we may add some), unless a map
                // schema (`additionalProperties: {schema}`) says what every value must be.
                // A bare `{type: object}` there is go-swagger's `interface{}`: Harbor's
                // `RetentionRule.params` is declared so and holds numbers.
                let any = |a: &Value| {
                    a.as_object().is_some_and(|o| o.len() == 1) && a["type"] == "object"
                };
                if let Some(extra) = schema
                    .get("additionalProperties")
                    .filter(|a| a.is_object() && !any(a))
                {
                    for (name, field) in object {
                        if !properties.is_some_and(|p| p.contains_key(name)) {
                            self.validate(extra, field, &format!("{at}.{name}"), out);
                        }
                    }
                }
            }
            Value::Array(items) => {
                if let Some(sub) = schema.get("items") {
                    for (i, item) in items.iter().enumerate() {
                        self.validate(sub, item, &format!("{at}[{i}]"), out);
                    }
                }
            }
            _ => {}
        }
    }
}

fn check_headers(response: &Value, request_id: bool, headers: &Headers, out: &mut Vec<String>) {
    let documented = &response["headers"];
    let mut required: Vec<&str> = keys(documented).collect();
    // Link is documented on every paged list but Harbor sends it only when another page
    // exists, so it is never required; its syntax is checked below when present.
    required.retain(|name| !name.eq_ignore_ascii_case("link"));
    if request_id && !required.iter().any(|name| is_request_id(name)) {
        required.push("X-Request-Id");
    }
    for name in required {
        if header_values(headers, name).next().is_none() {
            out.push(format!("header {name}: missing"));
        }
    }
    for (name, value) in headers {
        let spec = keys(documented).find(|d| d.eq_ignore_ascii_case(name));
        let integer = spec.is_some_and(|s| documented[s]["type"] == "integer");
        let v = value.trim();
        let problem = match name.to_ascii_lowercase().as_str() {
            "x-total-count" if v.parse::<u64>().is_err() => Some("not a count".to_owned()),
            "x-total-count" => None,
            "link" => check_link(v).err(),
            _ if integer && v.parse::<i64>().is_err() => Some("not an integer".to_owned()),
            _ => None,
        };
        if let Some(problem) = problem {
            let name = spec.unwrap_or(name);
            out.push(format!("header {name}: {value:?}: {problem}"));
        }
    }
}

/// `<url>; rel="next" , <url>; rel="prev"`, as Harbor writes `Link` for paged lists.
fn check_link(value: &str) -> Result<(), String> {
    let mut rest = value;
    loop {
        let inner = rest.trim_start().strip_prefix('<');
        let (url, after) = inner
            .and_then(|i| i.split_once('>'))
            .ok_or("expected '<url>'")?;
        if url.trim().is_empty() {
            return Err("empty URL in '<>'".to_owned());
        }
        let (params, next) = match after.split_once(',') {
            Some((params, next)) => (params, Some(next)),
            None => (after, None),
        };
        let params = params
            .trim()
            .strip_prefix(';')
            .ok_or("expected ';' after '<url>'")?;
        let rel = params
            .split(';')
            .find_map(|p| p.trim().strip_prefix("rel="));
        match rel.map(|r| r.trim_matches('"')) {
            Some("next" | "prev") => {}
            other => return Err(format!("rel must be \"next\" or \"prev\", not {other:?}")),
        }
        match next {
            Some(next) => rest = next,
            None => return Ok(()),
        }
    }
}

fn header_values<'a>(headers: &'a Headers, name: &'a str) -> impl Iterator<Item = &'a str> {
    let named = headers
        .iter()
        .filter(move |(n, _)| n.eq_ignore_ascii_case(name));
    named.map(|(_, v)| v.as_str())
}

fn is_request_id(name: &str) -> bool {
    name.eq_ignore_ascii_case("x-request-id")
}

fn keys(object: &Value) -> impl Iterator<Item = &str> {
    let entries = object.as_object().into_iter().flatten();
    entries.map(|(key, _)| key.as_str())
}

fn list<'a>(value: &'a Value, key: &str) -> &'a [Value] {
    value[key].as_array().map_or(&[], Vec::as_slice)
}

/// Segments after the leading `/`; a URL-encoded `a%252Fb` stays one segment.
fn split_path(path: &str) -> Vec<&str> {
    path.strip_prefix('/').unwrap_or(path).split('/').collect()
}

/// Harbor spells nullability `x-nullable: true` and, in 61 places, `x-isnullable: true`
/// (which go-swagger accepts as an alias).
fn is_nullable(schema: &Value) -> bool {
    schema["x-nullable"] == true || schema["x-isnullable"] == true
}

fn type_matches(expected: &str, value: &Value) -> bool {
    const TYPES: [&str; 6] = ["object", "array", "string", "integer", "number", "boolean"];
    let got = kind(value);
    // `file`, or anything Swagger 2.0 does not define, matches anything.
    got == expected || (expected == "number" && got == "integer") || !TYPES.contains(&expected)
}

/// The Swagger type of a JSON value. Go decodes `3.0` into no integer field, so a number is
/// an `integer` only when written as one.
fn kind(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(n) if n.is_i64() || n.is_u64() => "integer",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

/// The formats Harbor's Go types depend on; others (`uri`, `float`...) always fit.
fn format_fits(format: &str, value: &Value) -> bool {
    match (format, value) {
        ("date-time", Value::String(s)) => is_rfc3339(s),
        ("int8", Value::Number(_)) => value.as_i64().is_some_and(|n| i8::try_from(n).is_ok()),
        ("int32", Value::Number(_)) => value.as_i64().is_some_and(|n| i32::try_from(n).is_ok()),
        ("int64" | "int", Value::Number(_)) => value.as_i64().is_some(),
        ("uint64", Value::Number(_)) => value.as_u64().is_some(),
        _ => true,
    }
}

/// RFC 3339 `date-time`: `2024-01-02T03:04:05[.123](Z|+01:00)`.
fn is_rfc3339(s: &str) -> bool {
    // In a pattern `0` stands for a digit and `+` for a sign; two-digit fields, once shaped,
    // compare as strings.
    let shaped = |s: &str, pattern: &str| {
        s.len() == pattern.len()
            && s.bytes().zip(pattern.bytes()).all(|(c, p)| match p {
                b'0' => c.is_ascii_digit(),
                b'+' => c == b'+' || c == b'-',
                _ => c.eq_ignore_ascii_case(&p),
            })
    };
    let (Some(date), Some(rest)) = (s.get(..19), s.get(19..)) else {
        return false;
    };
    if !shaped(date, "0000-00-00T00:00:00") || &date[11..13] > "23" || &date[14..16] > "59" {
        return false;
    }
    let year: u32 = date[..4].parse().unwrap_or(1);
    let leap = year.is_multiple_of(4) && (!year.is_multiple_of(100) || year.is_multiple_of(400));
    let last = match &date[5..7] {
        "02" if leap => "29",
        "02" => "28",
        "04" | "06" | "09" | "11" => "30",
        "01" | "03" | "05" | "07" | "08" | "10" | "12" => "31",
        _ => return false,
    };
    let day = &date[8..10];
    if day == "00" || day > last || &date[17..19] > "60" {
        return false;
    }
    let zone = match rest.strip_prefix('.') {
        Some(fraction) => fraction.trim_start_matches(|c: char| c.is_ascii_digit()),
        None => rest,
    };
    if rest.starts_with('.') && zone.len() + 1 == rest.len() {
        return false; // a '.' with no digits
    }
    zone.eq_ignore_ascii_case("z")
        || (shaped(zone, "+00:00") && &zone[1..3] <= "23" && &zone[4..6] <= "59")
}
