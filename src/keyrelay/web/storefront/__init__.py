"""web storefront package."""
