//! The backplane's wire form, as a node reads it from Redis: any bytes decode or fail
//! cleanly, and what decodes encodes back to the same envelope.
#![no_main]
use libfuzzer_sys::fuzz_target;
use wsframe::backplane::Envelope;

fuzz_target!(|bytes: &[u8]| {
    if let Ok(envelope) = Envelope::decode(bytes) {
        assert_eq!(Envelope::decode(&envelope.encode()).unwrap(), envelope);
    }
});
