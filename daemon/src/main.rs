//! Entry point of the `codesaged` binary.

fn main() -> std::process::ExitCode {
    codesaged::cli::main()
}
