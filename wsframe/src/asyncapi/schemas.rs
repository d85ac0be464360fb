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
    let schema = generator.subschema_for::<T>().to_value();
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
}
