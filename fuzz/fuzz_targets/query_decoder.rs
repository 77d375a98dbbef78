//! The query protocols' decoder (EC2's `ec2` and RDS's `awsQuery`): any bytes as a query string
//! and a form body (split at the first NUL), checked for malformed encoding, parsed, and decoded
//! into the typed request of EC2 and of RDS. Nothing may panic; a decoded request must name an
//! action the model has.
#![no_main]

use libfuzzer_sys::fuzz_target;
use squall_protocol::{decode_action, malformed, parameter_count, QueryParams, MAX_PARAMETERS};

fuzz_target!(|data: &[u8]| {
    let (query, body) = match data.iter().position(|b| *b == 0) {
        Some(i) => (&data[..i], &data[i + 1..]),
        None => (&data[..0], data),
    };
    let _ = malformed(query);
    let _ = malformed(body);
    if parameter_count(query) + parameter_count(body) > MAX_PARAMETERS {
        return;
    }
    let params = QueryParams::parse(query, body);
    for (key, _) in params.iter() {
        let _ = params.indices(key);
        let _ = params.has_prefix(key);
    }
    if let Ok(request) =
        decode_action(&params, squall_ec2::generated::MODEL_OPERATIONS, squall_ec2::generated::Request::decode)
    {
        let _ = format!("{request:?}");
        assert!(params.action().is_some());
    }
    if let Ok(request) =
        decode_action(&params, squall_rds::generated::MODEL_OPERATIONS, squall_rds::generated::Request::decode)
    {
        let _ = format!("{request:?}");
        assert!(params.action().is_some());
    }
});
