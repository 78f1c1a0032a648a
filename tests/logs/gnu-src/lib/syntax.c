int syntax_limit = ;
