"""web console package."""
