//! The platform the container runs on, detected from the environment, and how to do things
//! there in the platform's own words (for the lines that tell an operator what to do).
//!
//! Detection is by variables each platform sets in every container it starts:
//! `FLY_APP_NAME` (Fly.io Machines; present, even empty, means Fly.io), then
//! `KUBERNETES_SERVICE_HOST` (set by the kubelet in every pod, unless `enableServiceLinks`
//! and the API service are both absent), else Docker (or anything else that runs an OCI image).

/// Where the container runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Platform {
    /// Fly.io Machines (`FLY_APP_NAME` is set).
    Fly,
    /// A Kubernetes pod (`KUBERNETES_SERVICE_HOST` is set).
    Kubernetes,
    /// Docker, or any other container runtime.
    Docker,
}

impl Platform {
    /// Detect the platform; `is_set(NAME)` says whether the variable `NAME` is present (an
    /// empty value counts as present: Fly.io sets its variables even where they are empty).
    pub fn detect(is_set: impl Fn(&str) -> bool) -> Platform {
        if is_set("FLY_APP_NAME") {
            Platform::Fly
        } else if is_set("KUBERNETES_SERVICE_HOST") {
            Platform::Kubernetes
        } else {
            Platform::Docker
        }
    }

    /// Detect the platform from this process's environment.
    pub fn from_env() -> Platform {
        Platform::detect(|name| std::env::var_os(name).is_some())
    }

    /// The platform's name for people: `Fly.io`, `Kubernetes`, `Docker`.
    pub fn name(self) -> &'static str {
        match self {
            Platform::Fly => "Fly.io",
            Platform::Kubernetes => "Kubernetes",
            Platform::Docker => "Docker",
        }
    }

    /// A short stable id (`fly`, `kubernetes`, `docker`): JSON fields and arguments.
    pub fn id(self) -> &'static str {
        match self {
            Platform::Fly => "fly",
            Platform::Kubernetes => "kubernetes",
            Platform::Docker => "docker",
        }
    }

    /// The inverse of [`Platform::id`].
    pub fn from_id(id: &str) -> Option<Platform> {
        match id {
            "fly" => Some(Platform::Fly),
            "kubernetes" => Some(Platform::Kubernetes),
            "docker" => Some(Platform::Docker),
            _ => None,
        }
    }

    /// How to give the running app a new `SYSTEMPROMPT_API_TOKEN` on this platform, as one
    /// clause that completes "log in again, then ..." (no trailing period). Never holds a
    /// value: the token is written `...`.
    pub fn rotate_token(self) -> &'static str {
        match self {
            Platform::Fly => {
                "`fly secrets set --stage SYSTEMPROMPT_API_TOKEN=... && fly deploy` (a rolling replacement of the Machines)"
            }
            Platform::Kubernetes => {
                "update the Secret that holds SYSTEMPROMPT_API_TOKEN and restart the rollout (`kubectl rollout restart deployment/NAME`)"
            }
            Platform::Docker => {
                "restart the container with the new SYSTEMPROMPT_API_TOKEN value (recreate it, e.g. `docker compose up -d`; `docker restart` keeps the old value)"
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn with(vars: &'static [&'static str]) -> impl Fn(&str) -> bool {
        move |name| vars.contains(&name)
    }

    #[test]
    fn detection_order() {
        assert_eq!(Platform::detect(with(&[])), Platform::Docker);
        assert_eq!(Platform::detect(with(&["FLY_APP_NAME"])), Platform::Fly);
        assert_eq!(
            Platform::detect(with(&["KUBERNETES_SERVICE_HOST"])),
            Platform::Kubernetes
        );
        // Fly.io wins: its Machines are never pods.
        assert_eq!(
            Platform::detect(with(&["KUBERNETES_SERVICE_HOST", "FLY_APP_NAME"])),
            Platform::Fly
        );
        assert_eq!(
            Platform::detect(with(&["FLY_REGION", "HOSTNAME"])),
            Platform::Docker
        );
    }

    #[test]
    fn ids_round_trip_and_fixes_name_the_platform_tool() {
        for p in [Platform::Fly, Platform::Kubernetes, Platform::Docker] {
            assert_eq!(Platform::from_id(p.id()), Some(p));
            assert!(p.rotate_token().contains("SYSTEMPROMPT_API_TOKEN"));
            assert!(!p.rotate_token().ends_with('.'));
        }
        assert_eq!(Platform::from_id("Fly"), None);
        assert!(
            Platform::Fly
                .rotate_token()
                .contains("fly secrets set --stage")
        );
        assert!(Platform::Fly.rotate_token().contains("fly deploy"));
        assert!(
            Platform::Kubernetes
                .rotate_token()
                .contains("kubectl rollout restart")
        );
        assert!(
            Platform::Docker
                .rotate_token()
                .contains("restart the container")
        );
    }
}
