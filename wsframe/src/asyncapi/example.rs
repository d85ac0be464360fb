//! An example value made from a JSON Schema: what the document shows with a typed
//! message, and what the docs page's console starts from. It follows references into
//! the named schemas, takes the first of alternatives (the first non-null), and uses a
//! schema's own `const`, `enum`, `default` or `examples` when it has one.

use std::collections::BTreeMap;

use serde_json::{Map, Value, json};

/// How deep a recursive type is followed before the example stops (with `null`).
const MAX_DEPTH: usize = 12;

/// Past this depth, arrays are empty and optional values `null` when the schema allows
/// it, so that a recursive type (`children: Vec<Tree>`) ends well before `MAX_DEPTH`.
const SHALLOW: usize = 4;

/// An example of `schema`, whose references point into `definitions`
/// (`#/components/schemas/<name>`).
pub(crate) fn example(schema: &Value, definitions: &BTreeMap<String, Value>) -> Value {
    walk(schema, definitions, 0)
}

fn walk(schema: &Value, definitions: &BTreeMap<String, Value>, depth: usize) -> Value {
    let Value::Object(schema) = schema else {
        // `true` (anything): an empty object is as good as any.
        return json!({});
    };
    if depth > MAX_DEPTH {
        return Value::Null;
    }
    let next = |schema: &Value| walk(schema, definitions, depth + 1);
    let deep = depth > SHALLOW;
    if let Some(reference) = schema.get("$ref").and_then(Value::as_str) {
        let name = reference.rsplit('/').next().unwrap_or_default();
        return definitions.get(name).map_or(Value::Null, next);
    }
    for own in ["const", "default"] {
        if let Some(value) = schema.get(own) {
            return value.clone();
        }
    }
    for listed in ["enum", "examples"] {
        if let Some(first) = schema
            .get(listed)
            .and_then(Value::as_array)
            .and_then(|v| v.first())
        {
            return first.clone();
        }
    }
    for alternatives in ["oneOf", "anyOf"] {
        if let Some(options) = schema.get(alternatives).and_then(Value::as_array) {
            let is_null = |option: &&Value| option.get("type") == Some(&json!("null"));
            let chosen = if deep && options.iter().any(|o| is_null(&o)) {
                options.iter().find(is_null)
            } else {
                options.iter().find(|o| !is_null(o)).or(options.first())
            };
            if let Some(option) = chosen {
                return next(option);
            }
        }
    }
    if let Some(parts) = schema.get("allOf").and_then(Value::as_array) {
        let mut merged = Map::new();
        for part in parts {
            match next(part) {
                Value::Object(fields) => merged.extend(fields),
                other => return other,
            }
        }
        // The schema's own properties beside its parts (an internally tagged newtype
        // variant: its tag here, its content in `allOf`).
        if let Some(properties) = schema.get("properties").and_then(Value::as_object) {
            for (name, property) in properties {
                merged.insert(name.clone(), next(property));
            }
        }
        return Value::Object(merged);
    }
    let ty = match schema.get("type") {
        Some(Value::String(ty)) => ty.as_str(),
        Some(Value::Array(types)) if deep && types.contains(&json!("null")) => "null",
        Some(Value::Array(types)) => types
            .iter()
            .filter_map(Value::as_str)
            .find(|ty| *ty != "null")
            .unwrap_or("null"),
        _ if schema.contains_key("properties") => "object",
        _ => return json!({}),
    };
    match ty {
        "object" => {
            let mut object = Map::new();
            if let Some(properties) = schema.get("properties").and_then(Value::as_object) {
                for (name, property) in properties {
                    object.insert(name.clone(), next(property));
                }
            }
            Value::Object(object)
        }
        "array" => match (schema.get("prefixItems"), schema.get("items")) {
            (Some(Value::Array(tuple)), _) | (_, Some(Value::Array(tuple))) => {
                Value::Array(tuple.iter().map(next).collect())
            }
            (_, Some(items)) => {
                let least = schema.get("minItems").and_then(Value::as_u64).unwrap_or(0);
                let count = if deep { least } else { least.max(1) };
                Value::Array((0..count).map(|_| next(items)).collect())
            }
            _ => json!([]),
        },
        "string" => match schema.get("format").and_then(Value::as_str) {
            Some("date-time") => json!("2026-01-01T00:00:00Z"),
            Some("date") => json!("2026-01-01"),
            Some("uuid") => json!("67e55044-10b1-426f-9247-bb680e5fe0c8"),
            Some("ip" | "ipv4") => json!("192.0.2.1"),
            Some("ipv6") => json!("2001:db8::1"),
            Some("uri") => json!("https://example.com/"),
            Some("email") => json!("user@example.com"),
            Some("hostname") => json!("example.com"),
            _ => {
                let least = schema.get("minLength").and_then(Value::as_u64).unwrap_or(0);
                let most = schema.get("maxLength").and_then(Value::as_u64);
                let mut text = String::from("string");
                while (text.len() as u64) < least {
                    text.push('x');
                }
                if let Some(most) = most {
                    text.truncate(most.max(1) as usize);
                }
                json!(text)
            }
        },
        // (`not: {const: 0}` is a non-zero integer.)
        "integer" => schema
            .get("minimum")
            .cloned()
            .unwrap_or(json!(if schema.contains_key("not") { 1 } else { 0 })),
        "number" => schema.get("minimum").cloned().unwrap_or(json!(0.5)),
        "boolean" => json!(false),
        _ => Value::Null,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn objects_references_and_alternatives() {
        let definitions = BTreeMap::from([(
            "Kind".to_string(),
            json!({ "type": "string", "enum": ["say", "shout"] }),
        )]);
        let schema = json!({
            "type": "object",
            "properties": {
                "room": { "type": "string" },
                "count": { "type": "integer", "minimum": 1 },
                "kind": { "$ref": "#/components/schemas/Kind" },
                "note": { "type": ["string", "null"] },
                "tags": { "type": "array", "items": { "type": "boolean" } },
                "either": { "oneOf": [{ "type": "null" }, { "const": 7 }] },
            },
        });
        assert_eq!(
            example(&schema, &definitions),
            json!({
                "room": "string",
                "count": 1,
                "kind": "say",
                "note": "string",
                "tags": [false],
                "either": 7,
            })
        );
    }

    #[test]
    fn a_recursive_type_stops() {
        let definitions = BTreeMap::from([(
            "Node".to_string(),
            json!({ "type": "object", "properties": { "next": { "$ref": "#/components/schemas/Node" } } }),
        )]);
        let value = example(
            &json!({ "$ref": "#/components/schemas/Node" }),
            &definitions,
        );
        let mut depth = 0;
        let mut at = &value;
        while let Some(next) = at.get("next") {
            at = next;
            depth += 1;
        }
        assert!(depth <= MAX_DEPTH, "{depth}");
    }
}
