/* placeholder: replaced by the real widget */
