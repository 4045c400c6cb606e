"""Who may do what: role assignments by built-in role name, for people, groups and identities."""
