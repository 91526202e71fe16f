# Filled by _simprofile._platform_sys: the real sys's attributes with the board's platform.
