//! `cocoon` subcommand (being implemented).

#[derive(clap::Subcommand)]
pub enum InspectCommand {
    /// Placeholder until this command is implemented.
    Todo,
}

pub fn run(_args: InspectCommand) -> anyhow::Result<()> {
    anyhow::bail!("not implemented yet")
}
