//! Platforms of a manifest list or image index, and which child is read for
//! a preferred one.

/// An `os/architecture[/variant]` as an index names it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Platform {
    pub os: String,
    pub architecture: String,
    pub variant: Option<String>,
}

impl Platform {
    /// The platform the config's `import.preferOS`/`import.preferArch` name.
    pub fn new(os: &str, architecture: &str) -> Platform {
        Platform {
            os: os.to_owned(),
            architecture: architecture.to_owned(),
            variant: None,
        }
    }
}

impl std::fmt::Display for Platform {
    /// `os/architecture`, and `/variant` when there is one.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.os, self.architecture)?;
        if let Some(v) = &self.variant {
            write!(f, "/{v}")?;
        }
        Ok(())
    }
}

/// The index of the child manifest read for `prefer`, as OpenShift's
/// importer picks the one image of a list (`importMode: Legacy`): the first
/// entry with the preferred architecture and OS (the variant is not
/// compared), else the first `linux/amd64` one, else the first entry. `None`
/// only for an empty list.
pub fn choose_child(platforms: &[Platform], prefer: &Platform) -> Option<usize> {
    let first = |os: &str, arch: &str| {
        platforms
            .iter()
            .position(|p| p.os == os && p.architecture == arch)
    };
    first(&prefer.os, &prefer.architecture)
        .or_else(|| first("linux", "amd64"))
        .or(if platforms.is_empty() { None } else { Some(0) })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(os: &str, arch: &str, variant: Option<&str>) -> Platform {
        Platform {
            os: os.into(),
            architecture: arch.into(),
            variant: variant.map(Into::into),
        }
    }

    #[test]
    fn the_preferred_platform_then_linux_amd64_then_the_first() {
        let list = [
            p("linux", "arm", Some("v6")),
            p("linux", "arm", Some("v7")),
            p("linux", "amd64", None),
            p("windows", "amd64", None),
        ];
        // The variant is not compared: the first arm entry wins.
        assert_eq!(choose_child(&list, &Platform::new("linux", "arm")), Some(0));
        assert_eq!(
            choose_child(&list, &Platform::new("windows", "amd64")),
            Some(3)
        );
        assert_eq!(
            choose_child(&list, &Platform::new("linux", "s390x")),
            Some(2)
        );
        let no_amd64 = [p("unknown", "unknown", None), p("linux", "arm64", None)];
        assert_eq!(
            choose_child(&no_amd64, &Platform::new("linux", "ppc64le")),
            Some(0)
        );
        assert_eq!(choose_child(&[], &Platform::new("linux", "amd64")), None);
    }

    #[test]
    fn platforms_print_as_os_arch_variant() {
        assert_eq!(
            p("linux", "arm64", Some("v8")).to_string(),
            "linux/arm64/v8"
        );
        assert_eq!(p("linux", "amd64", None).to_string(), "linux/amd64");
    }
}
