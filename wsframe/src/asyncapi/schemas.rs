//! JSON Schemas of typed messages (feature `schemas`), from `schemars::JsonSchema`:
//! Draft 7 (what AsyncAPI's own schema format extends), with named subschemas under
//! `#/components/schemas/`, where the document puts them.

use schemars::JsonSchema;
use schemars::generate::{Contract, SchemaSettings};

use super::route_doc::JsonMessage;

/// The message `T`, as the app reads it (`Contract::Deserialize`) or writes it.
pub(crate) fn message<T: JsonSchema + ?Sized>(reading: bool) -> JsonMessage {
    let mut generator = SchemaSettings::draft07()
        .with(|settings| {
            settings.definitions_path = "/components/schemas".into();
            settings.meta_schema = None;
            settings.contract = if reading {
                Contract::Deserialize
            } else {
                Contract::Serialize
            };
        })
        .into_generator();
    let mut schema = generator.subschema_for::<T>();
    // The Draft 7 transforms (tuples' `prefixItems` as `items`, ...) run on what goes
    // to the definitions; an inline schema needs them too.
    for transform in generator.transforms_mut() {
        transform.transform(&mut schema);
    }
    let schema = schema.to_value();
    JsonMessage {
        rust_type: std::any::type_name::<T>(),
        name: T::schema_name().into_owned(),
        schema: Some(schema),
        definitions: generator.take_definitions(true).into_iter().collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(JsonSchema)]
    #[allow(dead_code)]
    struct Chat {
        room: String,
        text: Option<String>,
        kind: Kind,
    }

    #[derive(JsonSchema)]
    #[allow(dead_code)]
    enum Kind {
        Say,
        Shout,
    }

    #[test]
    fn named_types_are_referenced_under_components() {
        let message = message::<Chat>(true);
        assert_eq!(message.name, "Chat");
        assert_eq!(message.schema.unwrap()["$ref"], "#/components/schemas/Chat");
        let chat = &message.definitions["Chat"];
        assert_eq!(
            chat["properties"]["kind"]["$ref"],
            "#/components/schemas/Kind"
        );
        assert!(message.definitions.contains_key("Kind"));
        assert!(chat.get("$schema").is_none());
    }

    /// The example made from each schema is a value of its type, for the shapes serde
    /// messages take.
    #[test]
    fn examples_deserialize_for_common_serde_shapes() {
        use serde::Deserialize;
        use std::collections::HashMap;

        fn roundtrip<T: JsonSchema + serde::de::DeserializeOwned>() {
            let message = message::<T>(true);
            let schema = message.schema.as_ref().unwrap();
            let value = super::super::example::example(schema, &message.definitions);
            if let Err(e) = serde_json::from_value::<T>(value.clone()) {
                panic!("{}: {value} does not deserialize: {e}", message.rust_type);
            }
        }

        #[derive(Deserialize, JsonSchema)]
        #[allow(dead_code)]
        struct Inner {
            n: u8,
        }
        #[derive(Deserialize, JsonSchema)]
        #[serde(tag = "kind")]
        #[allow(dead_code)]
        enum Internal {
            Wrapped(Inner),
            Plain { x: i32 },
        }
        #[derive(Deserialize, JsonSchema)]
        #[serde(tag = "t", content = "c")]
        #[allow(dead_code)]
        enum Adjacent {
            A(String),
            B,
        }
        #[derive(Deserialize, JsonSchema)]
        #[serde(untagged)]
        #[allow(dead_code)]
        enum Untagged {
            Num(f64),
            Text(String),
        }
        #[derive(Deserialize, JsonSchema)]
        #[allow(dead_code)]
        struct Tree {
            children: Vec<Tree>,
            parent: Option<Box<Tree>>,
        }
        #[derive(Deserialize, JsonSchema)]
        #[allow(dead_code)]
        struct Everything {
            letter: char,
            ip: std::net::IpAddr,
            v6: std::net::Ipv6Addr,
            pair: (u16, String),
            map: HashMap<String, Vec<u32>>,
            maybe: Option<Inner>,
            nonzero: std::num::NonZeroI32,
            unsigned: std::num::NonZeroU64,
        }
        roundtrip::<Internal>();
        roundtrip::<Adjacent>();
        roundtrip::<Untagged>();
        roundtrip::<Tree>();
        roundtrip::<Everything>();
        roundtrip::<(u8, bool)>();
        roundtrip::<Vec<Inner>>();
        roundtrip::<String>();
    }

    mod a {
        #[derive(schemars::JsonSchema)]
        #[allow(dead_code)]
        pub struct Message {
            pub x: u32,
        }
    }
    mod b {
        #[derive(schemars::JsonSchema)]
        #[allow(dead_code)]
        pub struct Message {
            pub y: String,
        }
    }

    /// Two types with one name get two schemas, each message referencing its own.
    #[test]
    fn same_named_types_get_distinct_schemas() {
        use super::super::route_doc::{Messages, RouteDoc};
        use super::super::{DocumentedRoute, Info, document};

        let mut one = RouteDoc::default();
        one.__json_schemas::<a::Message, a::Message>();
        let mut two = RouteDoc::default();
        two.__json_schemas::<b::Message, b::Message>();
        assert!(matches!(two.messages, Messages::Json { .. }));
        let routes = [
            DocumentedRoute {
                pattern: "/one",
                protocols: &[],
                doc: &one,
            },
            DocumentedRoute {
                pattern: "/two",
                protocols: &[],
                doc: &two,
            },
        ];
        let doc = document(&Info::default(), &routes, None);
        let schemas = &doc["components"]["schemas"];
        assert_eq!(schemas["Message"]["properties"]["x"]["type"], "integer");
        assert_eq!(schemas["Message2"]["properties"]["y"]["type"], "string");
        let two = &doc["channels"]["two"]["messages"]["clientMessage"];
        assert_eq!(two["payload"]["$ref"], "#/components/schemas/Message2");
        assert_eq!(
            two["examples"][0]["payload"],
            serde_json::json!({ "y": "string" })
        );
        let one = &doc["channels"]["one"]["messages"]["serverMessage"];
        assert_eq!(one["payload"]["$ref"], "#/components/schemas/Message");
    }
}
