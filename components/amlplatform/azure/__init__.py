"""Pure Azure facts, below both the settings models and the components.

Nothing here imports Pulumi or pydantic: built-in role ids (:mod:`.roles`), private DNS zones per
private endpoint group (:mod:`.private_dns`), the service's naming and configuration rules
(:mod:`.rules`), and the subscription registrations a deploy depends on (:mod:`.providers`). The settings re-export these names, so older imports keep working.
"""
