"""Offline review of a stack: ARM export, security scan (checkov + the policy pack), architecture
picture, deploy-time estimate and plan diff. Each module is imported only by the command that
needs it; none of them needs a cloud or the Pulumi CLI."""
