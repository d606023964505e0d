global using KState.Inspection;
