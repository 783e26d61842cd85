"""An offline stand-in for WeChat's login and pay hosts."""
