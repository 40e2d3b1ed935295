"""The blacklist-risk score, its inputs, and the campaign figures it draws on."""
