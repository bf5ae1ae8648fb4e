print("denalid")
