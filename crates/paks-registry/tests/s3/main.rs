//! The S3 storage backend against a real Garage cluster (3 nodes on 127.0.0.1).

mod core;
mod redirect;
mod uploads;

use paks_registry::storage::{Location, S3Config};
use paks_testkit::Garage;

/// The storage location of `garage` node `node`, under `prefix`.
pub fn location(garage: &Garage, node: usize, prefix: &str) -> Location {
    let creds = garage.credentials();
    let config = S3Config::parse(&garage.storage_url(node, prefix), |name| {
        creds
            .iter()
            .find(|(k, _)| *k == name)
            .map(|(_, v)| v.clone())
    })
    .expect("a valid location");
    Location::S3(config)
}

#[test]
fn a_garage_cluster_starts_and_the_storage_reaches_its_bucket() {
    let garage = Garage::start();
    for node in 0..3 {
        paks_registry::storage::open(&location(&garage, node, "t")).expect("the bucket answers");
    }
    // A wrong endpoint is an error that names the bucket, not a hang.
    let mut bad = location(&garage, 0, "t");
    if let Location::S3(c) = &mut bad {
        c.endpoint = Some(format!("http://127.0.0.1:{}", paks_testkit::free_port()));
    }
    let e = paks_registry::storage::open(&bad)
        .err()
        .expect("no store there");
    assert!(e.to_string().contains("`paks`"), "{e}");
}
