/// The one version number of the project: the agent (`--version`, HelloResult), the `tunnel`
/// client (`--version`) and the fora connector's wheel (scripts/build-wheel.py and the
/// Makefile read it from this line) all say this. Change it here only.
public let projectVersion = "0.2.0"
