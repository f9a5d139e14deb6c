//! Entry point of the `codesaged` binary.

#[global_allocator]
static ALLOCATOR: codesaged::allocator::Allocator = codesaged::allocator::Allocator {};

fn main() -> std::process::ExitCode {
    codesaged::cli::main()
}
