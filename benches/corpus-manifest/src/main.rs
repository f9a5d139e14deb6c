// Never built: this package only pins the crates `cargo vendor` downloads for the corpus.
fn main() {}
