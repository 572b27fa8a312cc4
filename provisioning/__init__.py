"""What a site manager runs to set up a site and its terminals."""
