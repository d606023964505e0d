global using KState.Core.Descriptions;
global using KState.Core.Records;
global using KState.Core.Registry;
global using KState.Core.Schema;
global using KState.Core.Sessions;
