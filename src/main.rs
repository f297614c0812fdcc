use std::process::ExitCode;

#[tokio::main]
async fn main() -> ExitCode {
    backchannel::cli::run().await
}
