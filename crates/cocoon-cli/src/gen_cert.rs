//! `cocoon` subcommand (being implemented).

#[derive(clap::Args)]
pub struct GenCertArgs {}

pub fn run(_args: GenCertArgs) -> anyhow::Result<()> {
    anyhow::bail!("not implemented yet")
}
