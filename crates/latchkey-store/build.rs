//! The migrations are embedded by `sqlx::migrate!`; without this, a change to a migration
//! alone would not rebuild the crate in an incremental build.
fn main() {
    println!("cargo:rerun-if-changed=migrations");
}
