//! Route patterns (what `#[websocket("…")]` and `Route::websocket` take): any text is
//! parsed without panicking, and a parsed route names only unique identifiers.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|route: &str| {
    if let Ok(spec) = wsframe_route::parse_route(route) {
        let mut names: Vec<&str> = spec.path.params().collect();
        names.extend(spec.query.iter().map(String::as_str));
        assert!(names.iter().all(|n| wsframe_route::is_identifier(n)));
        let count = names.len();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), count);
    }
});
